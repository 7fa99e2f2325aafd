"""``python -m bench --ray local``: the smoke preset's parts as tasks on a real local Ray."""

import io
import json
import pathlib
import sys
import time

import pytest

from bench.__main__ import main
from bench.presets import get_preset
from bench.ray_runner import INSTALL, _write
from bench.run import select

from .helpers import run_bench

SELECTION = "rnn_tanh or gru-training-torch"  # 4 smoke cases, one of them skipped (int8)


def _ray_processes() -> set[int]:
    """Ray's own daemons running now (their pids)."""
    found = set()
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"raylet" in cmdline or b"gcs_server" in cmdline:
            found.add(int(proc.name))
    return found


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory):
    pytest.importorskip(
        "ray", reason="Ray is not installed: pip install -c constraints.txt '.[ray]'"
    )
    out = tmp_path_factory.mktemp("ray")
    before = _ray_processes()
    done = run_bench("--preset", "smoke", "--filter", SELECTION, "--ray", "local", "--parts", "2",
                     "--out", str(out))  # fmt: skip
    for _ in range(30):  # the local instance is stopped when the run ends
        left = _ray_processes() - before
        if not left:
            break
        time.sleep(1)
    assert not left, f"Ray processes left running: {sorted(left)}"
    return done, out


def test_parts_run_as_ray_tasks_and_merge_into_one_run_per_machine(ray_run):
    done, out = ray_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 parts on 1 Ray node slots (local)" in done.stdout
    assert "part 1/2 done" in done.stdout and "part 2/2 done" in done.stdout
    (merged_path,) = out.glob("*.json")  # one machine type here
    assert merged_path.with_suffix(".html").exists()
    assert f"run file: {merged_path}" in done.stdout
    merged = json.loads(merged_path.read_text())
    meta = merged["rnnref"]
    held = [b["extra_info"]["case"] for b in merged["benchmarks"]] + [
        r["case"] for r in meta["skipped"] + meta["failed"]
    ]
    selection = [case.id for case in select(get_preset("smoke").cases, SELECTION)]
    assert sorted(held) == sorted(selection) and meta["merged"]["missing"] == []
    (parts_dir,) = out.glob("*.parts")
    assert len(list(parts_dir.glob("*.json"))) == 2


def test_a_lost_part_loses_only_its_cases(ray_run, tmp_path):
    _, out = ray_run
    (parts_dir,) = out.glob("*.parts")
    first, second = sorted(parts_dir.glob("*.json"))
    results = [
        {"index": 1, "code": 0, "run": first.read_text(), "tail": ""},
        {"index": 2, "code": None, "run": None, "tail": "NodeDiedError: the node died"},
    ]
    stream = io.StringIO()
    assert _write(results, 2, "smoke", tmp_path, stream) == 1
    assert "1 of 2 parts lost" in stream.getvalue()
    (merged_path,) = tmp_path.glob("*.json")
    missing = json.loads(merged_path.read_text())["rnnref"]["merged"]["missing"]
    lost = json.loads(second.read_text())
    lost_cases = [b["extra_info"]["case"] for b in lost["benchmarks"]] + [
        r["case"] for r in lost["rnnref"]["skipped"]
    ]
    assert sorted(missing) == sorted(lost_cases)


def test_without_ray_it_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(["--preset", "smoke", "--ray", "local", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [f"bench: error: {INSTALL}"]
    assert "pip install" in err and not (tmp_path / "out").exists()
