"""The short text summary printed after a run: the fastest exact backend per cell and mode.

It follows the report's headline rules (:mod:`reports.headline`): lossy backends are
named apart with their error, and unreliable rows win nothing.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter, defaultdict
from typing import Any

from bench.check import BOUNDS
from bench.environment import BUSY
from reports.cases import NOISY_RULE, flat_rows
from reports.headline import headline


def summary_lines(benchmarks: list[dict[str, Any]], rnnref: dict[str, Any]) -> list[str]:
    """Lines like ``lstm training: numpy fastest in 2 of 3 shapes (1.3x torch); ...``.

    Within each (cell, mode), each shape's fastest reliable exact backend wins it; the
    speedup over torch eager is the median over the won shapes with a reliable torch row.
    The fastest lossy backend is listed after ``lossy:`` with its largest rel_err.
    """
    entries = headline(flat_rows({"benchmarks": benchmarks}), BOUNDS, cpus=os.cpu_count())
    facets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        facets[(entry["cell"], entry["mode"])].append(entry)
    counts = (len(benchmarks), len(rnnref["skipped"]), len(rnnref["failed"]))
    lines = ["timed {} rows, skipped {}, failed {}".format(*counts)]
    if facets:
        lines.append(
            "fastest backend per cell and mode (exact numerics, reliable rows; shapes won):"
        )
    for (cell, mode), group in sorted(facets.items()):
        lines.append(f"  {cell:8s} {mode:9s}: {_wins(group, 'fastest', 'speedup')}")
        if any(e["lossy"] for e in group):
            lines.append(f"  {'':8s} {'':9s}  lossy: {_wins(group, 'lossy', 'lossy_speedup')}")
    unreliable = sum(len(e["left_out"]) for e in entries)
    if unreliable:
        lines.append(f"unreliable: {unreliable} rows left out of the above (see the report)")
    for record in rnnref["failed"]:
        lines.append(f"FAILED {record['case']}: {record['error']}")
    warnings = rnnref.get("noise_warnings") or []
    noisy_rows = [w for w in warnings if not w.startswith(BUSY)]
    lines += [w for w in warnings if w.startswith(BUSY)]
    if noisy_rows:
        lines.append(f"noise warnings: {len(noisy_rows)} rows with {NOISY_RULE} (see report)")
    return lines


def _wins(group: list[dict[str, Any]], winner: str, speedup: str) -> str:
    """``numpy 2/3, 1.30x torch; torch 1/3`` for the entries' ``winner`` rows."""
    wins: Counter[str] = Counter()
    speedups: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, float] = defaultdict(float)
    for entry in group:
        row = entry[winner]
        if row is None:
            continue
        wins[row["backend"]] += 1
        if entry[speedup]:
            speedups[row["backend"]].append(entry[speedup])
        if winner == "lossy":
            errors[row["backend"]] = max(errors[row["backend"]], row.get("rel_err") or 0.0)
    if not wins:
        return "no reliable row"
    parts = []
    for backend, count in wins.most_common():
        vs = f", {statistics.median(speedups[backend]):.2f}x torch" if speedups[backend] else ""
        err = f", rel_err {errors[backend]:.1e}" if backend in errors else ""
        parts.append(f"{backend} {count}/{len(group)}{vs}{err}")
    return "; ".join(parts)
