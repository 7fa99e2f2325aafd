"""``python -m reports``: outputs, exit codes of the gate, and one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from reports.__main__ import main
from tests.reports import runfactory as rf


def _slowed(doc: dict, backend: str, factor: float) -> dict:
    """``doc`` with every timing of ``backend`` multiplied by ``factor``."""
    doc = json.loads(json.dumps(doc))
    for bench in doc["benchmarks"]:
        if bench["extra_info"]["backend"] == backend:
            bench["stats"] = rf.stats_of([t * factor for t in bench["stats"]["data"]])
    return doc


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("cli")
    base = rf.matrix(seed=1)
    again = rf.matrix(seed=2)  # same machine, same speeds, fresh noise
    return {
        "base": rf.write(folder / "base.json", base),
        "again": rf.write(folder / "again.json", again),
        "slow": rf.write(folder / "slow.json", _slowed(again, "numpy", 1.25)),
        "folder": folder,
    }


def test_bench_writes_beside_the_run_file(runs: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", str(runs["base"])]) == 0
    out = runs["folder"] / "base.html"
    assert out.exists()
    assert capsys.readouterr().out.strip() == str(out)


def test_bench_from_partial_file_default_name(tmp_path: pathlib.Path) -> None:
    path = rf.write_partial(tmp_path / "run-7.partial.jsonl", rf.run([rf.benchmark()]), True)
    assert main(["bench", str(path)]) == 0
    assert "Partial run." in (tmp_path / "run-7.partial.html").read_text()


def test_compare_with_itself_is_unchanged(runs: dict, capsys: pytest.CaptureFixture) -> None:
    out = runs["folder"] / "self.html"
    code = main(
        ["compare", str(runs["base"]), str(runs["base"]), "-o", str(out), "--fail-above", "0"]
    )
    assert code == 0
    assert "0 faster, 0 slower" in capsys.readouterr().out
    assert out.exists()


def test_rerun_with_fresh_noise_passes_the_gate(runs: dict, capsys: pytest.CaptureFixture) -> None:
    code = main(
        [
            "compare",
            str(runs["base"]),
            str(runs["again"]),
            "-o",
            str(runs["folder"] / "again.html"),
            "--fail-above",
            "5",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "0 slower" in captured.out


def test_gate_flags_exactly_the_slowed_backend(runs: dict, capsys: pytest.CaptureFixture) -> None:
    out = runs["folder"] / "slow.html"
    code = main(
        ["compare", str(runs["base"]), str(runs["slow"]), "-o", str(out), "--fail-above", "10"]
    )
    captured = capsys.readouterr()
    assert code == 1
    flagged = [line for line in captured.err.splitlines() if line.startswith("REGRESSION")]
    numpy_cases = sum(
        b["extra_info"]["backend"] == "numpy"
        for b in json.loads(runs["slow"].read_text())["benchmarks"]
    )
    assert len(flagged) == numpy_cases == 12
    assert all(line.startswith("REGRESSION numpy ") for line in flagged)
    assert "12 slower" in captured.out


def test_gate_above_the_slowdown_passes(runs: dict) -> None:
    out = runs["folder"] / "slow2.html"
    assert (
        main(
            ["compare", str(runs["base"]), str(runs["slow"]), "-o", str(out), "--fail-above", "40"]
        )
        == 0
    )
    assert main(["compare", str(runs["base"]), str(runs["slow"]), "-o", str(out)]) == 0


def _one_error_line(capsys: pytest.CaptureFixture, *expected: str) -> None:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reports: error: ")
    for text in expected:
        assert text in lines[0]


def test_bad_inputs_exit_2_with_one_line(
    runs: dict, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(runs["base"].read_text()[:500])
    newer = tmp_path / "newer.json"
    newer.write_text(runs["base"].read_text().replace("rnnref-run/1", "rnnref-run/2"))
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"name": "something else"}')
    empty = tmp_path / "no_runs"
    empty.mkdir()
    cases = [
        (["bench", str(broken)], (str(broken), "truncated JSON")),
        (["bench", str(newer)], (str(newer), "newer schema")),
        (["bench", str(foreign)], (str(foreign), "not an rnnref run file")),
        (["bench", str(tmp_path / "absent.json")], ("absent.json", "no such file")),
        (["compare", str(runs["base"]), str(newer)], (str(newer), "newer schema")),
        (["compare", str(foreign), str(runs["base"])], (str(foreign),)),
        (["diagnose", str(tmp_path / "absent.json")], ("absent.json",)),
        (["bench", str(runs["base"]), "-o", str(tmp_path)], ("is a directory",)),
        (["bench", str(runs["base"]), "-o", str(broken / "x.html")], ("cannot write",)),
        # an endless device is refused after MAX_INPUT_BYTES, not read until memory runs out
        (["bench", "/dev/zero", "-o", str(tmp_path / "z.html")], ("/dev/zero", "MiB")),
        (["diagnose", "/dev/zero", "-o", str(tmp_path / "z.html")], ("/dev/zero", "MiB")),
        (["merge", "/dev/zero", "-o", str(tmp_path / "z.json")], ("/dev/zero", "MiB")),
        (["table", "/dev/zero"], ("/dev/zero", "MiB")),
        # a folder has no name to put the report beside it (Path("/").with_name raised)
        (["bench", "/"], ("/: is a directory",)),
        (["diagnose", "."], (".: is a directory",)),
        (["compare", str(empty), str(runs["base"])], (str(empty), "without a run file")),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        _one_error_line(capsys, *expected)


def test_compare_takes_each_folders_latest_run(
    runs: dict, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    """What the README runs: a run's --out folder gathers one run file per run."""
    base, new = tmp_path / "base", tmp_path / "new"
    for folder, older, latest in ((base, "slow", "base"), (new, "base", "slow")):
        folder.mkdir()
        for written, name in enumerate((older, latest)):  # the latest written last
            path = folder / f"{name}.json"
            path.write_bytes(runs[name].read_bytes())
            os.utime(path, (1e9 + written, 1e9 + written))
    assert main(["compare", str(base), str(new), "--fail-above", "10"]) == 1  # base -> slow
    out = capsys.readouterr().out
    said = ", the .json file last written there"
    assert f"{base}: base.json{said}\n{new}: slow.json{said}" in out
    assert (new / "compare-base-slow.html").is_file()


def test_bad_arguments_exit_2() -> None:
    for argv in (
        ["compare", "a.json"],
        ["bench"],
        ["nonsense"],
        ["compare", "a", "b", "--fail-above", "x"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def test_process_level_error_has_no_traceback(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    done = subprocess.run(
        [sys.executable, "-m", "reports", "bench", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"reports: error: {bad}: not a run file (top level is a JSON array)\n"
    assert done.stdout == ""
