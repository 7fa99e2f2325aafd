"""``python -m bench --ray ADDRESS`` on a real multi-node Ray cluster whose nodes die mid-run.

Ray's own multi-node harness (``ray.cluster_utils.Cluster``) starts a head node without a
slot and raylets with one ``rnnref_bench_slot`` and one CPU each, all on this machine, on
the loopback address and with their own ``RAY_TMPDIR`` (:mod:`tests.bench.rayprocs`). A
test waits until a part's process runs under one node's raylet (a part runs for seconds:
importing torch alone takes one) and kills that node's processes at once
(``Cluster.remove_node``, not gracefully), as a machine that dies would; then it checks
what the run did about it. The cases are the smoke preset's three rnn_tanh rows (no
compile row), in two parts. Not covered: separate machines, a network partition or a slow
network (a node that stops answering without dying), a head node that dies, Ray's client
mode (``ray://``).
"""

import contextlib
import io
import json
import os
import subprocess
import threading
import time

import pytest

from bench import ray_runner
from bench.presets import get_preset
from bench.ray_runner import run_on_ray
from bench.run import select
from tests.hang_guard import SUITE_RUN_S

from .helpers import ROOT, bench_command
from .rayprocs import end_left_over, gone, parent_of, private_ray_env, processes_with

ray = pytest.importorskip(
    "ray", reason="Ray is not installed: pip install -c constraints.txt '.[ray]'"
)
from ray.cluster_utils import Cluster  # noqa: E402

SLOT = "rnnref_bench_slot"
SELECTION = "rnn_tanh"  # 3 smoke cases (numpy, torch, int8 which skips): 2 cheap parts
LOOPBACK = "127.0.0.1"

HANG_GUARD_S = SUITE_RUN_S
"""Hang guard only: each run here took under 40 s on a 2-core machine shared with other
work (load average 12)."""


def _selection() -> list[str]:
    return [case.id for case in select(get_preset("smoke").cases, SELECTION)]


@pytest.fixture(scope="module")
def cluster():
    """A head node with no slot; each test adds (and removes) its slot nodes."""
    with private_ray_env() as folder, pytest.MonkeyPatch.context() as patch:
        # Every Ray process on the loopback address: the driver and the raylets read this
        # variable when they start; this process read it when it imported Ray, so patch that.
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        patch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
        # The raylets, their workers and so the parts import this checkout (Ray also ships
        # its packages to the workers; the merged file's rnnref.ray shows they ran this code).
        paths = [str(ROOT), os.environ.get("PYTHONPATH")]
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
        # A killed raylet is marked dead after 2 missed health checks 1 s apart (Ray's
        # default: 5, 3 s apart), so the tests wait less for its part's NodeDiedError and
        # for its slot to stop counting. A check fails at once on a killed raylet's closed
        # port; a live one, however busy, has Ray's 10 s timeout to answer.
        config = {"health_check_period_ms": 1000, "health_check_failure_threshold": 2}
        head = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": config},
        )
        try:
            assert head.head_node.node_ip_address == LOOPBACK, head.head_node.node_ip_address
            head.folder = folder
            yield head
        finally:
            head.shutdown()
        left = end_left_over(folder)
        assert not left, f"Ray processes left running (now killed): {left}"


def _add_slot_nodes(cluster, count: int) -> list:
    """Start ``count`` slot nodes, then wait until all of them have joined (Ray's hang
    guard: 30 s), rather than for each before starting the next."""
    nodes = [cluster.add_node(wait=False, num_cpus=1, resources={SLOT: 1}) for _ in range(count)]
    cluster.wait_for_nodes()
    assert all(node.node_ip_address == LOOPBACK for node in nodes)
    return nodes


def _remove_all(cluster, nodes: list) -> None:
    """Stop the nodes a test added, gracefully: the next test must not find them still
    counted alive, as a killed node is until it misses its health checks."""
    for node in nodes:
        if node in cluster.worker_nodes:
            cluster.remove_node(node)


@contextlib.contextmanager
def _bench_run(cluster, out, parts: int):
    """``python -m bench --ray`` on the cluster, as a user runs it; killed if the ``with``
    block fails (its output printed: pytest shows it with the failure)."""
    args = ["--preset", "smoke", "--filter", SELECTION, "--ray", cluster.address]
    run = subprocess.Popen(
        bench_command(*args, "--parts", str(parts), "--out", str(out)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    try:
        yield run
    except BaseException:
        run.kill()
        print(run.communicate()[0])
        raise


def _finish(run: subprocess.Popen) -> str:
    """The run's output once it ends (hang guard: :data:`HANG_GUARD_S`)."""
    try:
        output, _ = run.communicate(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run hung (hang guard {HANG_GUARD_S} s)")
    print(output)  # shown when a test fails
    return output


def _kill_node_running_a_part(cluster, nodes, ended, shard=None):
    """Wait until a part (``shard`` "K/N" if given) runs under one of ``nodes``, kill its
    node; returns ``(shard, node)``. Checks that the part's process ended with its node.
    ``ended()``: whether the run is over (then no part will start: fail)."""
    raylets = {node.all_processes["raylet"][0].process.pid: node for node in nodes}
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline and not ended():
        for pid, command in processes_with(cluster.folder).items():
            if "--shard" not in command or (shard and shard not in command):
                continue
            ancestor = pid
            while ancestor is not None and ancestor not in raylets and ancestor > 1:
                ancestor = parent_of(ancestor)
            node = raylets.get(ancestor)
            if node is None:
                continue
            cluster.remove_node(node, allow_graceful=False)
            assert not gone({pid}, 60), "the part's process outlived its node"
            return command[command.index("--shard") + 1], node
        time.sleep(0.1)
    pytest.fail(f"no part started under {len(nodes)} node(s) before the run ended, or within "
                f"{HANG_GUARD_S} s (hang guard)")  # fmt: skip


def _ended(run: subprocess.Popen):
    return lambda: run.poll() is not None


def _held(merged: dict) -> list[str]:
    meta = merged["rnnref"]
    return [b["extra_info"]["case"] for b in merged["benchmarks"]] + [
        r["case"] for r in meta["skipped"] + meta["failed"]
    ]


def test_a_part_whose_node_dies_is_retried_on_another_node(cluster, tmp_path):
    nodes = _add_slot_nodes(cluster, 2)
    try:
        with _bench_run(cluster, tmp_path, parts=2) as run:
            shard, lost = _kill_node_running_a_part(cluster, nodes, _ended(run))
            output = _finish(run)
    finally:
        _remove_all(cluster, nodes)
    (other,) = [node for node in nodes if node is not lost]
    k = shard.split("/")[0]
    assert run.returncode == 0, output[-4000:]
    assert "3 cases in 2 parts on 2 Ray node slots" in output
    lost_name = f"node {lost.node_id[:8]} at {LOOPBACK}"
    other_name = f"node {other.node_id[:8]} at {LOOPBACK}"
    assert f"bench: part {shard} lost on {lost_name} (NodeDiedError: " in output, output
    assert "; retrying it\n" in output
    assert (
        f"bench: part {shard} done (exit 0) on {other_name}, retried after it was lost on "
        f"{lost_name}\n" in output
    ), output
    assert f"bench: part {shard} was retried: done on {other_name}" in output
    assert "lost;" not in output and "missing:" not in output

    (merged_path,) = tmp_path.glob("*.json")
    merged = json.loads(merged_path.read_text())
    assert sorted(_held(merged)) == sorted(_selection())  # every case once
    assert merged["rnnref"]["merged"]["missing"] == []
    parts = {str(p["index"]): p for p in merged["rnnref"]["ray"]["parts"]}
    assert sorted(parts) == ["1", "2"]
    first, second = parts[k]["tries"]
    assert (first["node_id"], first["node_ip"]) == (lost.node_id, LOOPBACK)
    assert first["lost"].startswith("NodeDiedError: ")
    assert (second["node_id"], second["exit"]) == (other.node_id, 0)
    (other_part,) = [p for key, p in parts.items() if key != k]
    assert [t["node_id"] for t in other_part["tries"]] == [other.node_id]
    page = merged_path.with_suffix(".html").read_text()
    assert '<div class="note" id="merged-note">' in page
    assert f"part {shard}: lost on {lost_name} (NodeDiedError: " in page
    assert f"; done on {other_name}</li>" in page


def test_a_part_lost_on_every_try_is_listed_missing(cluster, tmp_path):
    nodes = _add_slot_nodes(cluster, 2)
    try:
        with _bench_run(cluster, tmp_path, parts=2) as run:
            shard, first = _kill_node_running_a_part(cluster, nodes, _ended(run))
            (second,) = [node for node in nodes if node is not first]
            # its retry waits for the other node's part, then runs there: kill that node too
            _kill_node_running_a_part(cluster, [second], _ended(run), shard=shard)
            output = _finish(run)
    finally:
        _remove_all(cluster, nodes)
    assert run.returncode == 1, output[-4000:]
    assert f"bench: part {shard} lost on node {first.node_id[:8]} at {LOOPBACK}" in output
    assert f"bench: part {shard} lost again on node {second.node_id[:8]} at {LOOPBACK}" in output
    (merged_path,) = tmp_path.glob("*.json")
    merged = json.loads(merged_path.read_text())
    missing = merged["rnnref"]["merged"]["missing"]
    assert missing and sorted(_held(merged) + missing) == sorted(_selection())
    cases = "1 case is" if len(missing) == 1 else f"{len(missing)} cases are"
    assert f"; its {cases} missing: {', '.join(missing)}\n" in output
    assert f"bench: 1 of 2 parts lost; their cases are missing: {', '.join(missing)}" in output
    (lost_part,) = [
        p for p in merged["rnnref"]["ray"]["parts"] if str(p["index"]) == shard.split("/")[0]
    ]
    assert [t["node_id"] for t in lost_part["tries"]] == [first.node_id, second.node_id]
    assert all(t["lost"].startswith("NodeDiedError: ") for t in lost_part["tries"])


def test_parts_give_up_when_no_live_node_offers_a_slot(cluster, tmp_path, monkeypatch):
    """In process (``run_on_ray`` with a short wait, the live slots checked every 0.5 s
    rather than 2 s): the only slot's node dies, so the lost part's retry and the part
    queued behind it can run nowhere."""
    monkeypatch.setattr(ray_runner, "POLL_S", 0.5)
    (node,) = _add_slot_nodes(cluster, 1)
    killed, ended = [], threading.Event()
    killer = threading.Thread(
        target=lambda: killed.append(_kill_node_running_a_part(cluster, [node], ended.is_set))
    )
    stream = io.StringIO()
    try:
        killer.start()
        code = run_on_ray(
            cluster.address, "smoke", SELECTION, tmp_path, parts=2, stream=stream,
            slot_wait_s=3,
        )  # fmt: skip
    finally:
        ended.set()
        killer.join(HANG_GUARD_S)
        _remove_all(cluster, [node])
    output = stream.getvalue()
    print(output)  # shown when the test fails
    assert killed, output
    (shard, _), lost_name = killed[0], f"node {node.node_id[:8]} at {LOOPBACK}"
    assert f"bench: part {shard} lost on {lost_name} (NodeDiedError: " in output, output
    assert code == 1, output
    assert "bench: no live node offers rnnref_bench_slot; 2 parts wait up to 3 s for one" in output
    assert output.count(f"lost: no live node offered {SLOT} for 3 s") == 2, output
    assert "bench: 2 of 2 parts lost; their cases are missing: " in output
    assert "bench: no part came back; no run file written" in output
    assert not list(tmp_path.glob("*.json"))
