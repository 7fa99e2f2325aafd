"""``python -m bench ... --ray ADDRESS``: the parts of a run (:mod:`bench.shard`) as Ray tasks.

Every node that times benchmarks advertises one unit of the custom resource
:data:`SLOT` (``ray start ... --resources='{"rnnref_bench_slot": 1}'``) and every part
asks for one, so a node times one part at a time and no two timed rows share a node.
Each task runs ``python -m bench --shard K/N`` in a fresh process on its node (its own
torch threads and pytest session) and sends back the part's run file. Ray retries a
part once when its worker or node dies (``max_retries=1``); a part lost twice is
reported, and its cases are listed as missing. The parts are grouped by machine type
(:func:`reports.merge.fingerprint`) and each group is merged with
:func:`reports.merge.merge_runs` into ``DIR/<run-id>-<machine>.json`` and its report.

``ADDRESS`` ``local`` starts a Ray instance on this machine with one slot (and stops it
at the end); anything else is passed to ``ray.init(address=...)``, e.g.
``ray://HEAD:10001``, and the packages are shipped to the cluster with the tasks.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, TextIO

from bench.run import UsageError, choose_preset, prepare_out_dir, select, write_report
from reports.merge import fingerprint, merge_runs

SLOT = "rnnref_bench_slot"
"""The custom resource a node offers once and every part asks for."""

INSTALL = (
    "--ray needs Ray: pip install 'rnnref[ray]' "
    "(in this repository: pip install -c constraints.txt '.[ray]')"
)

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
) -> int:
    """Run the preset's selected cases as parts on the Ray cluster at ``address`` and write
    one merged run file and report per machine type in ``out_dir`` (each part's own run
    file in ``out_dir/<run-id>.parts/``).

    ``parts`` defaults to the cluster's slots. Returns 0 when every part came back and no
    row failed, 1 otherwise, 130 on Ctrl-C (the parts that finished are merged).
    UsageError (before anything runs) for bad arguments, without Ray, or for a cluster
    without slots.
    """
    stream = stream or sys.stdout
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL) from None
    cases = select(choose_preset(preset_name, shapes).cases, expression)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be >= 1, got {threads}")
    if parts is not None and parts < 1:
        raise UsageError(f"--parts must be >= 1, got {parts}")
    out_dir = prepare_out_dir(out_dir)
    _connect(ray, address)
    try:
        slots = int(ray.cluster_resources().get(SLOT, 0))
        if slots < 1:
            raise UsageError(
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
        results: list[dict] = []
        try:
            _run_parts(ray, args, count, results, stream)
        except KeyboardInterrupt:
            print("bench: interrupted (Ctrl-C); merging the parts that finished", file=stream)
            interrupted = True
        else:
            interrupted = False
    finally:
        ray.shutdown()
    code = _write(sorted(results, key=lambda r: r["index"]), count, preset_name, out_dir, stream)
    return 130 if interrupted else code


def _connect(ray: Any, address: str) -> None:
    """Start a local instance with one slot, or join the cluster at ``address`` (shipping
    this checkout's packages to its nodes)."""
    try:
        if address == "local":
            ray.init(resources={SLOT: 1}, include_dashboard=False, log_to_driver=False)
        else:
            root = pathlib.Path(__file__).resolve().parents[1]
            modules = [str(root / name) for name in _PACKAGES]
            ray.init(address=address, runtime_env={"py_modules": modules}, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot connect to Ray at {address}: {exc}") from None


def _part_args(
    preset: str, expression: str | None, threads: int | None, shapes: list[str] | None, count: int
) -> list[list[str]]:
    """The ``python -m bench`` arguments of each part."""
    common = ["--preset", preset]
    common += ["--filter", expression] if expression else []
    common += ["--threads", str(threads)] if threads else []
    for shape in shapes or ():
        common += ["--shape", shape]
    return [[*common, "--shard", f"{k}/{count}"] for k in range(1, count + 1)]


def _part(args: list[str], omp_threads: str | None) -> dict[str, Any]:
    """On a node: run one part in a fresh process; its run file's text and output tail.

    Ray sets OMP_NUM_THREADS for its workers; the part gets the driver's setting instead,
    so torch's default threads are the node's own, as in a plain run.
    """
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
        )
        runs = sorted(pathlib.Path(tmp).glob("*.json"))
        return {
            "code": done.returncode,
            "run": runs[0].read_text(encoding="utf-8") if runs else None,
            "tail": (done.stdout + done.stderr)[-2000:],
        }


def _run_parts(
    ray: Any, args: list[list[str]], count: int, results: list[dict], stream: TextIO
) -> None:
    """Submit every part (one slot each, retried once if its worker or node dies) and
    append each to ``results`` as it finishes; a lost part's result holds its error."""
    task = ray.remote(num_cpus=0, resources={SLOT: 1}, max_retries=1)(_part)
    omp = os.environ.get("OMP_NUM_THREADS")
    pending = {task.remote(part_args, omp): k for k, part_args in enumerate(args, 1)}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        k = pending.pop(ref)
        try:
            result = ray.get(ref)
        except Exception as exc:  # the task's worker or node died twice: only its part is lost
            result = {"code": None, "run": None, "tail": f"{type(exc).__name__}: {exc}"}
        result["index"] = k
        if result["run"] is None:
            last = result["tail"].strip().splitlines()[-1:] or ["no output"]
            print(f"bench: part {k}/{count} lost: {last[0]}", file=stream, flush=True)
        else:
            print(f"bench: part {k}/{count} done (exit {result['code']})", file=stream, flush=True)
        results.append(result)


def _write(
    results: list[dict], count: int, preset: str, out_dir: pathlib.Path, stream: TextIO
) -> int:
    """Write each part's run file, merge the parts per machine type, report each."""
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
    lost = sum(result["run"] is None for result in results)
    failed = sum(result["code"] == 1 for result in results)
    for key, paths in groups.items():
        merged_path = out_dir / f"{run_id}-{labels[key]}.json"
        merged = merge_runs(paths, merged_path)
        meta = merged["rnnref"]
        print(
            f"machine {labels[key]}: {len(paths)} of {count} parts, "
            f"{len(merged['benchmarks'])} timed, {len(meta['skipped'])} skipped, "
            f"{len(meta['failed'])} failed, {len(meta['merged']['missing'])} missing",
            file=stream,
        )
        print(f"run file: {merged_path}", file=stream)
        html = write_report(merged_path, stream)
        if html:
            print(f"report:   {html}", file=stream)
    if lost:
        print(f"bench: {lost} of {count} parts lost; their cases are missing", file=stream)
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
