"""Outputs ``python -m bench`` cannot write: one line, exit 2, nothing already written lost.

The full disk is a 16 KiB tmpfs (room for the header and a few rows), so it needs root.
"""

import errno
import json
import os
import subprocess

import pytest

from bench.__main__ import main
from bench.record import append_line
from reports.runfile import load_run

from .helpers import run_bench_here


@pytest.fixture
def full_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_during_a_run_is_one_line_and_keeps_the_rows(full_disk):
    done = run_bench_here(
        "--preset", "smoke", "--filter", "lstm and training", "--out", str(full_disk)
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert "INTERNALERROR" not in done.stdout and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("bench: error: cannot write ") and "No space left on device" in line
    assert "the rows written before are kept" in line
    (partial,) = full_disk.glob("*.partial.jsonl")
    text = partial.read_text(encoding="utf-8")
    assert text.endswith("\n"), "the partial file ends in a torn line"
    assert all(json.loads(line) for line in text.splitlines())
    run = load_run(partial)
    assert run["partial"] and run["benchmarks"]
    assert all(row["stats"]["data"] for row in run["benchmarks"])
    assert not list(full_disk.glob("*.json")) and not list(full_disk.glob("*.tmp"))


def test_an_output_name_too_long_is_one_line(tmp_path, capsys):
    assert main(["--preset", "smoke", "--out", str(tmp_path / ("x" * 300))]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("bench: error: cannot create output directory")
    assert line.endswith("File name too long")


def test_a_line_the_disk_cuts_short_is_taken_back(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    append_line(fd, '{"header": 1}')
    real_write = os.write
    calls = []

    def half_then_full(fd_: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd_, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        append_line(fd, '{"benchmark": {"case": "x", "long": "' + "y" * 100 + '"}}')
    monkeypatch.setattr(os, "write", real_write)
    append_line(fd, '{"skipped": 2}')
    os.close(fd)
    assert len(calls) == 2  # half the line went out before the disk filled
    assert path.read_text() == '{"header": 1}\n{"skipped": 2}\n'
