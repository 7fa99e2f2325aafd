"""``python -m bench ... --ray ADDRESS``: the parts of a run (:mod:`bench.shard`) as Ray tasks.

Every node that times benchmarks advertises one unit of the custom resource
:data:`SLOT` (``ray start ... --resources='{"rnnref_bench_slot": 1}'``) and every part
asks for one, so a node times one part at a time and no two timed rows share a node.
Each task runs ``python -m bench --shard K/N`` in a fresh process on its node (its own
torch threads and pytest session; on Linux it dies with the Ray worker that started it)
and sends back the part's run file and the node it ran on. A part whose worker or node
dies is run once more (:data:`RETRIES`; Ray gives it the next free slot, on another node
when its node died); a part lost twice, or left waiting :data:`SLOT_WAIT_S` seconds while
no live node offers a slot, is reported and its cases are listed as missing. The console
says on which node each part ran or was lost. The parts are grouped by machine type
(:func:`reports.merge.fingerprint`) and each group is merged with
:func:`reports.merge.merge_runs` into ``DIR/<run-id>-<machine>.json`` and its report; the
merged file's ``rnnref.ray`` records every part's tries: ``{address, slots, retries, parts:
[{index, cases, tries: [{node_id, node_ip, exit, niceness | lost}]}]}``.

``ADDRESS`` ``local`` starts a Ray instance on this machine with one slot (and stops it
at the end), even where a cluster started with ``ray start`` runs; anything else is passed
to ``ray.init(address=...)``, e.g. ``ray://HEAD:10001``, and the packages are shipped to
the cluster with the tasks.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, TextIO

from bench.run import BadArgument, choose_preset, prepare_out_dir, select, write_report
from bench.shard import split
from reports.merge import fingerprint, merge_runs

SLOT = "rnnref_bench_slot"
"""The custom resource a node offers once and every part asks for."""

INSTALL = (
    "--ray needs Ray: pip install 'rnnref[ray]' "
    "(in this repository: pip install -c constraints.txt '.[ray]')"
)

RETRIES = 1
"""How many more times a part runs after its worker, node or process died."""

SLOT_WAIT_S = 60.0
"""How long parts wait while no live node offers :data:`SLOT` (every slot's node died)
before they are given up as lost."""

POLL_S = 2.0
"""How often, while no part finishes, the driver checks that some live node offers a slot."""

_PACKAGES = ("bench", "reports", "rnnref", "usermodel")


def run_on_ray(
    address: str,
    preset_name: str,
    expression: str | None,
    out_dir: pathlib.Path,
    threads: int | None = None,
    shapes: list[str] | None = None,
    parts: int | None = None,
    stream: TextIO | None = None,
    slot_wait_s: float = SLOT_WAIT_S,
    report: bool = True,
) -> int:
    """Run the preset's selected cases as parts on the Ray cluster at ``address`` and write
    one merged run file and report per machine type in ``out_dir`` (each part's own run
    file in ``out_dir/<run-id>.parts/``).

    ``parts`` defaults to the cluster's slots. A part whose worker or node dies is retried
    once; parts still waiting after ``slot_wait_s`` seconds without any live node offering
    a slot are lost. No HTML report when ``report`` is False (the parts never write one).
    Returns 0 when every part came back and no row failed, 1 otherwise, 130 on Ctrl-C (the
    parts that finished are merged). BadArgument (before anything runs) for bad arguments,
    without Ray, or for a cluster without slots.
    """
    stream = stream or sys.stdout
    try:
        import ray
    except ImportError:
        raise BadArgument(INSTALL) from None
    preset = choose_preset(preset_name, shapes)
    cases = select(preset.cases, expression)
    if threads is not None and threads < 1:
        raise BadArgument(f"--threads must be >= 1, got {threads}")
    if parts is not None and parts < 1:
        raise BadArgument(f"--parts must be >= 1, got {parts}")
    out_dir = prepare_out_dir(out_dir)
    _connect(ray, address)
    try:
        # the live nodes' slots: cluster_resources() counts a dead node's for a while
        slots = int(_live_slots(ray))
        if slots < 1:
            raise BadArgument(
                f"no node of the Ray cluster at {address} offers the resource {SLOT}; start "
                f"each node with: ray start ... --resources='{{\"{SLOT}\": 1}}'"
            )
        count = min(parts or slots, len(cases))
        print(
            f"bench: {len(cases)} cases in {count} parts on {slots} Ray node slots ({address})",
            file=stream,
            flush=True,
        )
        args = _part_args(preset_name, expression, threads, shapes, count)
        cases_of = {
            k: [case.id for case in part] for k, part in enumerate(split(cases, preset, count), 1)
        }
        results: list[dict] = []
        try:
            _run_parts(ray, args, cases_of, results, stream, slot_wait_s)
        except KeyboardInterrupt:
            print("bench: interrupted (Ctrl-C); merging the parts that finished", file=stream)
            interrupted = True
        else:
            interrupted = False
    finally:
        ray.shutdown()
    results.sort(key=lambda r: r["index"])
    record = {
        "address": address,
        "slots": slots,
        "retries": RETRIES,
        "parts": [
            {"index": r["index"], "cases": len(cases_of[r["index"]]), "tries": r["tries"]}
            for r in results
        ],
    }
    code = _write(results, count, preset_name, out_dir, stream, record, cases_of, report)
    return 130 if interrupted else code


def _connect(ray: Any, address: str) -> None:
    """Start a local instance with one slot, or join the cluster at ``address`` (shipping
    this checkout's packages to its nodes)."""
    try:
        if address == "local":
            ray.init(  # "local": a new instance, not a cluster `ray start` left running here
                address="local", resources={SLOT: 1}, include_dashboard=False, log_to_driver=False
            )
        else:
            root = pathlib.Path(__file__).resolve().parents[1]
            modules = [str(root / name) for name in _PACKAGES]
            ray.init(address=address, runtime_env={"py_modules": modules}, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BadArgument(f"cannot connect to Ray at {address}: {exc}") from None


def _part_args(
    preset: str, expression: str | None, threads: int | None, shapes: list[str] | None, count: int
) -> list[list[str]]:
    """The ``python -m bench`` arguments of each part (its report is not written: the
    driver writes the merged run's)."""
    common = ["--preset", preset]
    common += ["--filter", expression] if expression else []
    common += ["--threads", str(threads)] if threads else []
    for shape in shapes or ():
        common += ["--shape", shape]
    return [[*common, "--shard", f"{k}/{count}", "--no-report"] for k in range(1, count + 1)]


def _part(args: list[str], omp_threads: str | None) -> dict[str, Any]:
    """On a node: run one part in a fresh process; its exit status, run file's text, output
    tail, and the node it ran on (Ray's node ID and IP).

    Ray sets OMP_NUM_THREADS for its workers; the part gets the driver's setting instead,
    so torch's default threads are the node's own, as in a plain run. Ray also starts its
    workers at nice 15, where a part's timings would yield the CPU to any other process
    on the node: the part runs at nice 0 where the worker may raise its priority (root, or
    CAP_SYS_NICE), and ``niceness`` says what it ran at.
    """
    import ray

    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    roots = [  # where this worker found the packages (Ray ships each to its own folder)
        str(pathlib.Path(importlib.import_module(name).__file__).resolve().parents[1])
        for name in _PACKAGES
    ]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(roots))
    env["PYTHONWARNINGS"] = "ignore"
    if omp_threads is not None:
        env["OMP_NUM_THREADS"] = omp_threads
    with tempfile.TemporaryDirectory(prefix="rnnref-part-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "bench", *args, "--out", tmp],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            preexec_fn=_die_with_parent(),
        )
        runs = sorted(pathlib.Path(tmp).glob("*.json"))
        return {
            "code": done.returncode,
            "run": runs[0].read_text(encoding="utf-8") if runs else None,
            "tail": (done.stdout + done.stderr)[-2000:],
            "node_id": ray.get_runtime_context().get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        }


def _die_with_parent() -> Any:
    """On Linux, a ``preexec_fn`` that has the child killed when the worker that started
    it dies (``PR_SET_PDEATHSIG``): a worker killed (by the OOM killer, or with its node's
    raylet) leaves no part timing beside its retry. None elsewhere.

    ``prctl`` is looked up here, before the fork: the child only calls it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _run_parts(
    ray: Any,
    args: list[list[str]],
    cases_of: dict[int, list[str]],
    results: list[dict],
    stream: TextIO,
    slot_wait_s: float,
) -> None:
    """Submit every part (one slot each) and append each to ``results`` as it finishes,
    with its ``tries``: ``{node_id, node_ip, exit, niceness}``, or ``{node_id, node_ip,
    lost}`` for a try whose worker, node or process died (the part is submitted again) or
    whose own code raised (it is not). A part lost :data:`RETRIES` + 1 times, or waiting
    ``slot_wait_s`` while no live node offers a slot, is appended with ``run`` None, its
    cases named missing.
    """
    from ray.exceptions import RayError, RayTaskError

    count = len(args)
    task = ray.remote(num_cpus=0, resources={SLOT: 1}, max_retries=0)(_part)
    omp = os.environ.get("OMP_NUM_THREADS")
    tries: dict[int, list[dict[str, Any]]] = {k: [] for k in range(1, count + 1)}
    pending: dict[Any, int] = {}

    def submit(k: int) -> None:
        pending[task.remote(args[k - 1], omp)] = k

    def lose(k: int, why: str) -> None:
        missing = cases_of.get(k, [])
        print(
            f"bench: part {k}/{count} lost{why}; its {_cases(len(missing))} missing: "
            f"{_some(missing)}",
            file=stream,
            flush=True,
        )
        results.append(
            {"index": k, "code": None, "run": None, "tail": tries[k][-1]["lost"], "tries": tries[k]}
        )

    def lost(k: int, node_id: str | None, node_ip: str | None, reason: str, retry: bool) -> None:
        tries[k].append({"node_id": node_id, "node_ip": node_ip, "lost": reason})
        where = f" on {_node(node_id, node_ip)} ({reason})"
        if retry and len(tries[k]) <= RETRIES:
            print(f"bench: part {k}/{count} lost{where}; retrying it", file=stream, flush=True)
            submit(k)
        else:
            lose(k, (" again" if len(tries[k]) > 1 else "") + where)

    for k in range(1, count + 1):
        submit(k)
    no_slot = _NoSlotClock(slot_wait_s)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        if not ready:
            if not no_slot.expired(_live_slots(ray), len(pending), stream):
                continue
            for ref, k in sorted(pending.items(), key=lambda item: item[1]):
                ray.cancel(ref)
                reason = f"no live node offered {SLOT} for {slot_wait_s:.0f} s"
                tries[k].append({"node_id": None, "node_ip": None, "lost": reason})
                lose(k, f": {reason}")
            break
        (ref,) = ready
        k = pending.pop(ref)
        try:
            result = ray.get(ref)
        except RayError as exc:  # its worker or node died (or its result was lost with it)
            # RayTaskError: the part's own code raised, and would again
            lost(k, *_node_of(exc), _reason(exc), retry=not isinstance(exc, RayTaskError))
            continue
        node = {"node_id": result.pop("node_id"), "node_ip": result.pop("node_ip")}
        code, niceness = result["code"], result.pop("niceness", 0)
        if result["run"] is None and code is not None and code < 0:  # e.g. the OOM killer
            lost(k, **node, reason=f"its process was killed by {_signal_name(-code)}", retry=True)
            continue
        tries[k].append({**node, "exit": code, "niceness": niceness})
        result.update(index=k, tries=tries[k])
        if niceness > 0:
            print(
                f"bench: part {k}/{count} ran at nice {niceness} on {_node(**node)} (Ray's "
                "worker niceness; this user may not raise it): its timings yield to any "
                "other process there; start the node with RAY_worker_niceness=0",
                file=stream,
                flush=True,
            )
        if result["run"] is None:
            last = result["tail"].strip().splitlines()[-1:] or ["no output"]
            print(
                f"bench: part {k}/{count} wrote no run file on {_node(**node)} "
                f"(exit {code}): {last[0]}",
                file=stream,
                flush=True,
            )
        else:
            print(
                f"bench: part {k}/{count} done (exit {code}) on {_node(**node)}"
                + _retried(tries[k]),
                file=stream,
                flush=True,
            )
        results.append(result)


class _NoSlotClock:
    """How long no live node has offered a slot; says so once when it starts."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self.since: float | None = None

    def expired(self, live_slots: float, waiting: int, stream: TextIO) -> bool:
        """True once no live node has offered a slot for ``wait_s`` seconds (as seen by
        the calls so far; ``live_slots`` is now)."""
        if live_slots:
            self.since = None
            return False
        if self.since is None:
            self.since = time.monotonic()
            print(
                f"bench: no live node offers {SLOT}; {waiting} parts wait up to "
                f"{self.wait_s:.0f} s for one",
                file=stream,
                flush=True,
            )
        return time.monotonic() - self.since >= self.wait_s


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _live_slots(ray: Any) -> float:
    """The slots the live nodes of the cluster offer (busy or not)."""
    return sum(node["Resources"].get(SLOT, 0) for node in ray.nodes() if node.get("Alive"))


_NODE_ID = re.compile(r"\bnode ID: ([0-9a-f]{8,})", re.IGNORECASE)
_NODE_IP = re.compile(r"\bNode IP: ([0-9A-Fa-f.:]+[0-9A-Fa-f])")


def _node_of(exc: BaseException) -> tuple[str | None, str | None]:
    """The node ID and IP a Ray error names (a dead node's error names both; the part's
    own error its IP), else None."""
    text = str(exc)
    node_id, node_ip = _NODE_ID.search(text), _NODE_IP.search(text)
    ip = node_ip.group(1) if node_ip else getattr(exc, "ip", None)
    return (node_id.group(1) if node_id else None), (ip if isinstance(ip, str) else None)


def _reason(exc: BaseException) -> str:
    """The error's type and first sentence, e.g. ``NodeDiedError: Task failed because the
    node it was running on is dead or unavailable.``; for the part's own error, its cause."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    lines = str(exc).strip().splitlines() or [""]
    first = re.split(r"(?<=\.)\s", lines[0], maxsplit=1)[0]
    return f"{type(exc).__name__}: {first}".rstrip(": ")


def _node(node_id: str | None, node_ip: str | None) -> str:
    """``node 5276d1cd at 10.0.0.7``: the first 8 hex digits of Ray's node ID and its IP."""
    if not node_id:
        return f"a node at {node_ip}" if node_ip else "a node Ray did not name"
    return f"node {node_id[:8]}" + (f" at {node_ip}" if node_ip else "")


def _retried(tries: list[dict[str, Any]]) -> str:
    """``, retried after it was lost on node ...`` for a part that needed more than one try."""
    lost = [_node(t["node_id"], t["node_ip"]) for t in tries if "lost" in t]
    return f", retried after it was lost on {', '.join(lost)}" if lost else ""


def _cases(count: int) -> str:
    return f"{count} case is" if count == 1 else f"{count} cases are"


def _some(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` names, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _write(
    results: list[dict],
    count: int,
    preset: str,
    out_dir: pathlib.Path,
    stream: TextIO,
    record: dict[str, Any] | None = None,
    cases_of: dict[int, list[str]] | None = None,
    report: bool = True,
) -> int:
    """Write each part's run file, merge the parts per machine type (with ``record`` as
    ``rnnref.ray``), report each (unless ``report`` is False); say which parts were retried
    and which are missing."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id = f"{preset}-ray-{stamp}"
    parts_dir = out_dir / f"{run_id}.parts"
    parts_dir.mkdir()
    groups: dict[str, list[pathlib.Path]] = defaultdict(list)
    labels: dict[str, str] = {}
    for result in results:
        if result["run"] is None:
            continue
        doc = json.loads(result["run"])
        path = parts_dir / f"{doc['rnnref']['run_id']}.json"
        path.write_text(result["run"], encoding="utf-8")
        key = json.dumps(fingerprint(doc), sort_keys=True, default=str)
        groups[key].append(path)
        if key not in labels:
            labels[key] = _machine_label(doc, set(labels.values()))
    lost = [result for result in results if result["run"] is None]
    failed = sum(result["code"] == 1 for result in results)
    for key, paths in groups.items():
        merged_path = out_dir / f"{run_id}-{labels[key]}.json"
        merged = merge_runs(paths, merged_path, {"ray": record} if record else None)
        meta = merged["rnnref"]
        print(
            f"machine {labels[key]}: {len(paths)} of {count} parts, "
            f"{len(merged['benchmarks'])} timed, {len(meta['skipped'])} skipped, "
            f"{len(meta['failed'])} failed, {len(meta['merged']['missing'])} missing",
            file=stream,
        )
        print(f"run file: {merged_path}", file=stream)
        html = write_report(merged_path, stream) if report else None
        if html:
            print(f"report:   {html}", file=stream)
    for result in results:
        if result["run"] is not None and _retried(result.get("tries") or []):
            done = result["tries"][-1]
            print(
                f"bench: part {result['index']}/{count} was retried: done on "
                f"{_node(done['node_id'], done['node_ip'])}{_retried(result['tries'])}",
                file=stream,
            )
    if lost:
        missing = [case for result in lost for case in (cases_of or {}).get(result["index"], [])]
        listed = f": {_some(missing)}" if missing else ""
        print(
            f"bench: {len(lost)} of {count} parts lost; their cases are missing{listed}",
            file=stream,
        )
        if not groups:
            print("bench: no part came back; no run file written", file=stream)
    return 1 if lost or failed else 0


def _machine_label(doc: dict[str, Any], taken: set[str]) -> str:
    """A file-name label for a machine type, e.g. ``intel-xeon-cpu-e5-2690-2cores``."""
    cpu = (doc.get("machine_info") or {}).get("cpu") or {}
    words = re.sub(r"[^a-z0-9]+", "-", str(cpu.get("brand_raw") or "cpu").lower()).strip("-")
    label = f"{words[:40].strip('-')}-{cpu.get('count')}cores"
    n, unique = 1, label
    while unique in taken:
        n += 1
        unique = f"{label}-{n}"
    return unique
