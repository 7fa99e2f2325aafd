"""``python -m bench --ray local``: the smoke preset's parts as tasks on a real local Ray;
the driver's retries against a scripted Ray; a part's process dying with its worker.
(Nodes that die: test_ray_cluster.py.)"""

import io
import json
import os
import subprocess
import sys
import time

import pytest

from bench.__main__ import main
from bench.presets import get_preset
from bench.ray_runner import INSTALL, SLOT, _run_parts, _write
from bench.run import select
from tests.hang_guard import START_S

from .helpers import ROOT, run_bench_here
from .rayprocs import end_left_over, gone, parent_of, private_ray_env

SELECTION = "rnn_tanh or gru-training-torch-b"  # 4 smoke cases, one of them skipped (int8)


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory):
    pytest.importorskip(
        "ray", reason="Ray is not installed: pip install -c constraints.txt '.[ray]'"
    )
    out = tmp_path_factory.mktemp("ray")
    with private_ray_env() as folder:  # apart from any other Ray on this machine
        # the driver in this process (the parts are Ray's processes): no second torch import
        done = run_bench_here("--preset", "smoke", "--filter", SELECTION, "--ray", "local",
                              "--parts", "2", "--out", str(out))  # fmt: skip
        left = end_left_over(folder)  # the local instance is stopped when the run ends
    assert not left, f"Ray processes left running (now killed): {left}"
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
    ray_parts = meta["ray"]["parts"]
    assert [p["index"] for p in ray_parts] == [1, 2]
    assert all(
        [set(t) for t in p["tries"]] == [{"node_id", "node_ip", "exit", "niceness"}]
        for p in ray_parts
    )
    if os.geteuid() == 0:  # root may raise the part above Ray's worker niceness (15)
        assert all(p["tries"][0]["niceness"] == 0 for p in ray_parts)
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


class _ScriptedRay:
    """Just enough of Ray for ``_run_parts``: each try of part K answers with the next entry
    of ``script[K]`` (a ``_part`` result, or the error ``ray.get`` raises)."""

    def __init__(self, script):
        self.script = {k: list(answers) for k, answers in script.items()}
        self.answers = {}

    def remote(self, **options):
        assert options["max_retries"] == 0  # the driver retries, and knows where a try died
        ray = self

        class Task:
            def remote(self, args, omp):
                ref = object()
                k = int(args[args.index("--shard") + 1].split("/")[0])
                ray.answers[ref] = ray.script[k].pop(0)
                return ref

        return lambda function: Task()

    def wait(self, refs, num_returns, timeout):
        return refs[:1], refs[1:]

    def get(self, ref):
        answer = self.answers.pop(ref)
        if isinstance(answer, BaseException):
            raise answer
        return dict(answer)

    def nodes(self):
        return [{"Alive": True, "Resources": {SLOT: 1}}]


def _done(node_id, run="{}", code=0, niceness=0):
    return {
        "code": code,
        "run": run,
        "tail": "",
        "node_id": node_id,
        "node_ip": "10.0.0.1",
        "niceness": niceness,
    }


def test_a_part_left_at_rays_worker_niceness_says_so():
    # Ray starts workers at nice 15; a user who may not raise it gets timings that yield
    # to every other process on the node, and is told
    results, stream = [], io.StringIO()
    script = {1: [_done("a" * 56, niceness=15)]}
    _run_parts(_ScriptedRay(script), [["--shard", "1/1"]], {1: ["c"]}, results, stream, 0)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("bench: part 1/1 ran at nice 15 on node aaaaaaaa at 10.0.0.1")
    assert lines[0].endswith("start the node with RAY_worker_niceness=0")
    assert results[0]["tries"] == [
        {"node_id": "a" * 56, "node_ip": "10.0.0.1", "exit": 0, "niceness": 15}
    ]


def test_a_part_is_retried_once_when_its_worker_node_or_process_dies_not_when_it_raises():
    exceptions = pytest.importorskip("ray.exceptions", reason="Ray is not installed")
    cause = OSError("no space left on device")
    raised = exceptions.RayTaskError("_part", "Traceback ...", cause, pid=7, ip="10.0.0.3")
    script = {
        1: [_done("a" * 56, run=None, code=-9), _done("b" * 56)],  # the OOM killer, then done
        2: [exceptions.WorkerCrashedError(), exceptions.WorkerCrashedError()],  # lost twice
        3: [raised],  # its own error: not retried
    }
    args = [["--preset", "smoke", "--shard", f"{k}/3"] for k in (1, 2, 3)]
    cases_of = {1: ["case-1"], 2: ["case-2", "case-3"], 3: ["case-4"]}
    results, stream = [], io.StringIO()
    _run_parts(_ScriptedRay(script), args, cases_of, results, stream, slot_wait_s=0)
    assert [line.removeprefix("bench: ") for line in stream.getvalue().splitlines()] == [
        "part 1/3 lost on node aaaaaaaa at 10.0.0.1 (its process was killed by SIGKILL); "
        "retrying it",
        "part 2/3 lost on a node Ray did not name (WorkerCrashedError: The worker died "
        "unexpectedly while executing this task.); retrying it",
        "part 3/3 lost on a node at 10.0.0.3 (OSError: no space left on device); "
        "its 1 case is missing: case-4",
        "part 1/3 done (exit 0) on node bbbbbbbb at 10.0.0.1, retried after it was lost on "
        "node aaaaaaaa at 10.0.0.1",
        "part 2/3 lost again on a node Ray did not name (WorkerCrashedError: The worker died "
        "unexpectedly while executing this task.); its 2 cases are missing: case-2, case-3",
    ]
    by_part = {r["index"]: r for r in results}
    assert by_part[1]["run"] == "{}" and [t.get("exit") for t in by_part[1]["tries"]] == [None, 0]
    assert by_part[2]["run"] is None and len(by_part[2]["tries"]) == 2
    assert by_part[3]["run"] is None and by_part[3]["tries"][0]["node_ip"] == "10.0.0.3"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_part_process_dies_with_the_worker_that_started_it(tmp_path):
    """The worker is played by a python that starts a sleeper the way ``_part`` starts a
    part, then is killed (SIGKILL, as the OOM killer or a dying node would)."""
    pid_file = tmp_path / "part.pid"
    worker = subprocess.Popen(
        [sys.executable, "-c", (
            "import pathlib, subprocess, sys, time\n"
            "from bench.ray_runner import _die_with_parent\n"
            "part = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
            " preexec_fn=_die_with_parent())\n"
            f"pathlib.Path({str(pid_file)!r}).write_text(str(part.pid))\n"
            "time.sleep(600)\n"
        )],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        part = int(pid_file.read_text())
        assert parent_of(part) == worker.pid
    finally:
        worker.kill()
        worker.wait()
    assert not gone({part}, START_S), "the part outlived its worker"


class _NoSlotRay(_ScriptedRay):
    """A cluster whose last slot node is gone: nothing finishes, nothing can start."""

    def __init__(self):
        super().__init__({1: [None], 2: [None]})
        self.cancelled = []

    def wait(self, refs, num_returns, timeout):
        return [], refs

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": 1}}, {"Alive": False, "Resources": {SLOT: 1}}]

    def cancel(self, ref):
        self.cancelled.append(ref)


def test_parts_waiting_while_no_live_node_offers_a_slot_are_given_up():
    pytest.importorskip("ray.exceptions", reason="Ray is not installed")
    ray, results, stream = _NoSlotRay(), [], io.StringIO()
    args = [["--shard", f"{k}/2"] for k in (1, 2)]
    _run_parts(ray, args, {1: ["case-1"], 2: ["case-2"]}, results, stream, slot_wait_s=0)
    assert stream.getvalue().splitlines() == [
        "bench: no live node offers rnnref_bench_slot; 2 parts wait up to 0 s for one",
        "bench: part 1/2 lost: no live node offered rnnref_bench_slot for 0 s; "
        "its 1 case is missing: case-1",
        "bench: part 2/2 lost: no live node offered rnnref_bench_slot for 0 s; "
        "its 1 case is missing: case-2",
    ]
    assert len(ray.cancelled) == 2 and [r["run"] for r in results] == [None, None]
