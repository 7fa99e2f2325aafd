"""The bench report: one run file (or partial file) as a self-contained HTML page.

Sections: environment header (machine, versions, threads, peak, noise warnings,
partial-run note, merged-run note: :func:`merge_note`), for ``python -m bench model`` runs
the model's deployment paths and the layers it holds, headline table, figures, claims
checked, full results, skipped cases and rows refused by the correctness gate, flame graphs
found in ``profiles/`` beside the run file. Unreliable rows (too few timings,
too wide a spread, a busy machine: :func:`reports.headline.unreliable`) are
marked in the results table, and left out of the headline and the claims.
Noise warnings are the run's own (bench writes them into the final file); a
partial file has none yet, so they are derived from its rows with the same rule
(:func:`reports.cases.is_noisy`).
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse
from typing import Any

from reports import bench_plots, environment, headline
from reports.cases import flat_rows, noise_warning, variants
from reports.claims import check_claims
from reports.render import check_output, write_html
from reports.runfile import load_run

BAR_OF_OLDER_FILES = {
    "shape": {
        "batch": 64,
        "seq_len": 100,
        "input_size": 256,
        "hidden_size": 256,
        "num_layers": 1,
        "bidirectional": False,
        "layout": "padded",
        "fill": 1.0,
    },
    "limits": [
        {"mode": "inference", "contender": "torch", "limit": 2.0},
        {"mode": "training", "contender": "torch", "limit": 2.5},
        {"mode": "inference", "contender": "torch-no-onednn", "limit": 1.0},
    ],
}
"""The reference-speed bar that run files written before they carried their own
(``rnnref.reference_bar``) were measured against."""


def reference_speed(rows: list[dict[str, Any]], bar: dict[str, Any]) -> list[dict[str, Any]]:
    """rnnref (``numpy``) against torch with and without oneDNN at the bar's shape, from the
    run's own rows: one entry per cell, mode and contender of the bar's limits (cell, mode,
    contender, numpy and contender rows, ratio, limit, meets, unreliable). ``bar``: the run
    file's ``rnnref.reference_bar`` (``{"shape": {...}, "limits": [{mode, contender,
    limit}]}``)."""
    entries = []
    for group in variants(rows, "backend"):
        numpy_row = group.get("numpy")
        if numpy_row is None or any(numpy_row.get(k) != v for k, v in bar["shape"].items()):
            continue
        for limit_entry in bar["limits"]:
            mode, contender, limit = (limit_entry[k] for k in ("mode", "contender", "limit"))
            other = group.get(contender)
            if other is None or numpy_row["mode"] != mode:
                continue
            ratio = numpy_row["median"] / other["median"]
            entries.append(
                {
                    "cell": numpy_row["cell"],
                    "mode": mode,
                    "contender": contender,
                    "numpy": numpy_row,
                    "other": other,
                    "ratio": ratio,
                    "limit": limit,
                    "meets": ratio < limit if contender == "torch-no-onednn" else ratio <= limit,
                    "unreliable": numpy_row.get("unreliable") or other.get("unreliable"),
                }
            )
    return sorted(entries, key=lambda e: (e["cell"], e["mode"], e["contender"]))


PROFILES_DIR = "profiles"
"""Folder beside the run file where ``python -m bench profile`` writes ``<case-id>.svg``."""


def flame_graphs(run_path: pathlib.Path, out_path: pathlib.Path) -> dict[str, str]:
    """``case id -> link`` for every flame graph beside the run file, relative to the report."""
    folder = run_path.parent / PROFILES_DIR
    if not folder.is_dir():
        return {}
    base = out_path.resolve().parent
    links = {}
    for svg_file in sorted(folder.glob("*.svg")):
        relative = os.path.relpath(svg_file.resolve(), base)
        links[svg_file.stem] = urllib.parse.quote(pathlib.Path(relative).as_posix())
    return links


def merge_note(run: dict[str, Any]) -> dict[str, Any] | None:
    """What a merged run (``python -m reports merge``, ``python -m bench --ray``) says about
    its parts: ``{parts, count, missing, tries}``, ``tries`` one line per part that a Ray
    run lost on a node at least once (where, why, and where it was done or that its cases
    are missing). None for a run that is not merged."""
    merged = run["rnnref"].get("merged")
    if not isinstance(merged, dict):
        return None
    lines = []
    for part in (run["rnnref"].get("ray") or {}).get("parts") or []:
        tries = part.get("tries") or []
        if not any("lost" in t for t in tries):
            continue
        steps = [_attempt(t) for t in tries]
        if "lost" in tries[-1]:
            steps.append("its cases are missing")
        lines.append(f"part {part.get('index')}/{merged.get('count')}: " + "; ".join(steps))
    return {
        "parts": len(merged.get("parts") or []),
        "count": merged.get("count"),
        "missing": merged.get("missing") or [],
        "tries": lines,
    }


def _attempt(attempt: dict[str, Any]) -> str:
    """One try of a part, as bench prints it: ``lost on node 5276d1cd at 10.0.0.7 (why)``
    (Ray's node ID, shortened, and IP), ``done on node ...``, or ``not run (why)``."""
    node_id, node_ip = attempt.get("node_id"), attempt.get("node_ip")
    if node_id:
        where = f"node {str(node_id)[:8]}" + (f" at {node_ip}" if node_ip else "")
    elif node_ip:
        where = f"a node at {node_ip}"
    else:
        return f"not run ({attempt.get('lost')})"
    return f"lost on {where} ({attempt['lost']})" if "lost" in attempt else f"done on {where}"


def build_context(run: dict[str, Any], run_path: pathlib.Path, out_path: pathlib.Path) -> dict:
    """Everything the bench template shows, computed from the loaded run."""
    every = flat_rows(run)
    bounds = run["rnnref"]["bounds"]  # required by the schema; every run file records it
    cpus = ((run.get("machine_info") or {}).get("cpu") or {}).get("count")
    reliable = headline.mark_unreliable(every, cpus if isinstance(cpus, int) else None)
    model_rows = [r for r in every if r.get("kind") == "model"]  # python -m bench model
    rows = [r for r in every if r.get("kind") != "model"]
    reliable = [r for r in reliable if r.get("kind") != "model"]
    profiles = flame_graphs(run_path, out_path)
    for row in rows:
        row["profile"] = profiles.get(str(row.get("case", "")))
    env = environment.describe(run)
    warnings = environment.noise_warnings(run) or [
        noise_warning(r.get("case", r["name"]), r["median"], r["iqr"], r["rounds"])
        for r in rows
        if r["noisy"]
    ]
    return {
        "run": run,
        "run_name": run_path.name,
        "merge": merge_note(run),
        "env": env,
        "noise_warnings": warnings,
        "rows": rows,
        "headline": headline.headline(rows, bounds),
        "reference": reference_speed(
            rows, run["rnnref"].get("reference_bar") or BAR_OF_OLDER_FILES
        ),
        "model": run["rnnref"].get("model"),
        "model_rows": model_rows,
        "model_headline": headline.headline(model_rows, bounds, baseline_backend="eager"),
        "exact_bound": bounds[headline.EXACT_NUMERICS],
        "lossy_numerics": [name for name in bounds if name != headline.EXACT_NUMERICS],
        "min_rounds": headline.MIN_ROUNDS,
        "unreliable_iqr": headline.UNRELIABLE_IQR,
        "unreliable_count": len(rows) - len(reliable),
        "claims": check_claims(reliable),
        "figures": {
            "latency": bench_plots.against_batch(rows, "median", "median latency (ms)"),
            "tokens": bench_plots.against_batch(rows, "tokens_per_s", "tokens/s"),
            "peak": bench_plots.against_batch(rows, "pct_peak", "% of peak", log_y=False),
            "packing": bench_plots.packing_speedup(rows),
            "int8": bench_plots.int8_tradeoff(rows),
        },
        "skipped": run["rnnref"].get("skipped") or [],
        "failed": run["rnnref"].get("failed") or [],
        "profiles": profiles,
    }


def write_bench_report(run_path: pathlib.Path, out_path: pathlib.Path) -> None:
    """Write the HTML report of the run file ``run_path`` to ``out_path``.

    Raises:
        reports.runfile.BadRunFile: the run file cannot be used.
        reports.errors.CannotWrite: ``out_path`` cannot be written.
    """
    run_path, out_path = pathlib.Path(run_path), pathlib.Path(out_path)
    run = load_run(run_path)
    check_output(out_path)
    write_html("bench.html.j2", out_path, **build_context(run, run_path, out_path))
