"""Join the parts of a sharded run (``python -m bench --shard K/N``) into one run file.

Each part's ``rnnref.shard`` is ``{index, count, cases_all, expected_s}``: the part's place
and the whole selection. Parts join when they come from one machine type
(:func:`fingerprint`) and one run (:data:`SAME_RUN`: preset, filter, shapes, timing, the
selection); each case (timed, skipped or failed) must come from one part only. The merged
file is an ordinary run file, its rows in the selection's order, with ``rnnref.merged``:
``{count, parts: [{index, run_id, node, cases, peak_gflops, expected_s}], missing: [...]}``
(``missing``: the cases no part holds, e.g. the part of a node that died).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from reports.errors import ReportError
from reports.frame import fingerprint as machine_fingerprint
from reports.output import check_output, write_atomic
from reports.runfile import load_run

SAME_RUN = ("preset", "filter", "shapes", "timing")
"""``rnnref`` fields every part of one run shares."""


def fingerprint(run: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs' timings comparable as one machine's: the kind of machine
    (:func:`reports.frame.fingerprint`: CPU model, cores, architecture, GPU; not the host
    name, so nodes of one type are one machine), threads and library versions."""
    _, machine = machine_fingerprint(run)
    meta = run["rnnref"]
    return {"machine": machine, "threads": meta.get("threads"), "versions": meta.get("versions")}


def merge_runs(
    paths: list[pathlib.Path], out: pathlib.Path, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge the parts at ``paths`` and write the run file ``out``; returns its content.
    ``extra``: more ``rnnref`` fields for the merged file (``python -m bench --ray`` adds
    ``ray``: where each part ran and was lost).

    Raises:
        ReportError: an unusable part (not a finished part of a sharded run), parts from
            different machines or runs, a part or case given twice, or an ``out`` that is
            one of the inputs or cannot be written (nothing is written then).
    """
    check_output(out, paths)
    runs = [_load_part(path) for path in paths]
    base = runs[0]
    for run in runs[1:]:
        _same(base, run)
    owner: dict[str, str] = {}
    indexes: dict[int, str] = {}
    for run in runs:
        index = run["rnnref"]["shard"]["index"]
        if index in indexes:
            raise ReportError(run["source"], f"part {index} is also given as {indexes[index]}")
        indexes[index] = run["source"]
        for case in _cases_of(run):
            if case in owner:
                raise ReportError(run["source"], f"case {case} is also in {owner[case]}")
            owner[case] = run["source"]
    document = _merged(sorted(runs, key=lambda r: r["rnnref"]["shard"]["index"]), owner, out)
    document["rnnref"].update(extra or {})
    write_atomic(out, json.dumps(document, indent=1, default=str), "merged run")
    return document


def _load_part(path: pathlib.Path) -> dict[str, Any]:
    run = load_run(path)
    if run["partial"]:
        raise ReportError(path, "is a partial file (the part did not finish); rerun that part")
    shard = run["rnnref"].get("shard")
    if not isinstance(shard, dict) or not isinstance(shard.get("cases_all"), list):
        raise ReportError(
            path, "not a part of a sharded run (no rnnref.shard); run: python -m bench --shard K/N"
        )
    return run


def _same(base: dict[str, Any], run: dict[str, Any]) -> None:
    """ReportError naming the first difference between two parts' machine or run."""
    mine, theirs = fingerprint(run), fingerprint(base)
    for label, value in mine.items():
        if value != theirs[label]:
            raise ReportError(
                run["source"],
                f"from another machine than {base['source']}: {label} {_short(value)} "
                f"against {_short(theirs[label])}",
            )
    a, b = base["rnnref"], run["rnnref"]
    for field in SAME_RUN:
        if a.get(field) != b.get(field):
            raise ReportError(
                run["source"],
                f"from another run than {base['source']}: {field} {_short(b.get(field))} "
                f"against {_short(a.get(field))}",
            )
    for field in ("count", "cases_all"):
        if a["shard"].get(field) != b["shard"].get(field):
            raise ReportError(
                run["source"], f"from another split than {base['source']}: its {field} differs"
            )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _cases_of(run: dict[str, Any]) -> list[str]:
    """Every case a part holds: timed, skipped or failed."""
    meta = run["rnnref"]
    return [
        *(bench["extra_info"]["case"] for bench in run["benchmarks"]),
        *(record["case"] for record in meta.get("skipped") or []),
        *(record["case"] for record in meta.get("failed") or []),
    ]


def _merged(runs: list[dict[str, Any]], owner: dict[str, str], out: pathlib.Path) -> dict:
    base = runs[0]
    cases_all = base["rnnref"]["shard"]["cases_all"]
    order = {case: i for i, case in enumerate(cases_all)}

    def in_order(records: list[dict[str, Any]], key: Any) -> list[dict[str, Any]]:
        return sorted(records, key=lambda r: order.get(key(r), len(order)))

    meta = {k: v for k, v in base["rnnref"].items() if k != "shard"}
    metas = [run["rnnref"] for run in runs]
    nodes = sorted({str((run.get("machine_info") or {}).get("node")) for run in runs})
    loads = [m.get("load_average") or {} for m in metas]
    meta.update(
        run_id=out.name.removesuffix(".json"),
        cases=len(cases_all),
        skipped=in_order([s for m in metas for s in m.get("skipped") or []], lambda r: r["case"]),
        failed=in_order([f for m in metas for f in m.get("failed") or []], lambda r: r["case"]),
        noise_warnings=list(dict.fromkeys(w for m in metas for w in m.get("noise_warnings") or [])),
        load_average={
            key: max((load[key] for load in loads if key in load), default=None)
            for key in ("start", "end")
        },
        merged={
            "count": base["rnnref"]["shard"]["count"],
            "parts": [
                {
                    "index": run["rnnref"]["shard"]["index"],
                    "run_id": run["rnnref"].get("run_id"),
                    "node": (run.get("machine_info") or {}).get("node"),
                    "cases": len(_cases_of(run)),
                    "peak_gflops": run["rnnref"].get("peak_gflops"),
                    "expected_s": run["rnnref"]["shard"].get("expected_s"),
                }
                for run in runs
            ],
            "missing": [case for case in cases_all if case not in owner],
        },
    )
    benchmarks = [bench for run in runs for bench in run["benchmarks"]]
    return {
        "machine_info": {**(base.get("machine_info") or {}), "node": ", ".join(nodes)},
        "commit_info": base.get("commit_info") or {},
        "benchmarks": in_order(benchmarks, lambda b: b["extra_info"]["case"]),
        "datetime": min(str(run.get("datetime")) for run in runs),
        "version": base.get("version"),
        "rnnref": meta,
    }
