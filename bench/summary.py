"""The short text summary printed after a run: the fastest backend per cell and mode."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from bench.environment import BUSY
from reports.cases import SHAPE_FIELDS

_SHAPE = ("batch", *SHAPE_FIELDS)


def summary_lines(benchmarks: list[dict[str, Any]], rnnref: dict[str, Any]) -> list[str]:
    """Lines like ``lstm training: numpy fastest in 2 of 3 shapes (1.3x torch); ...``.

    Within each (cell, mode), rows are grouped by shape; each shape's fastest backend
    (by median) wins it; the speedup over torch eager is the median over the won shapes
    that also have a torch row.
    """
    shapes: dict[tuple, dict[tuple, dict[str, float]]] = defaultdict(dict)
    for entry in benchmarks:
        info = entry["extra_info"]
        shape = tuple(info[k] for k in _SHAPE)
        shapes[(info["cell"], info["mode"])].setdefault(shape, {})[info["backend"]] = entry[
            "stats"
        ]["median"]
    counts = (len(benchmarks), len(rnnref["skipped"]), len(rnnref["failed"]))
    lines = ["timed {} rows, skipped {}, failed {}".format(*counts)]
    if shapes:
        lines.append("fastest backend per cell and mode (median latency, shapes won):")
    for (cell, mode), by_shape in sorted(shapes.items()):
        wins: Counter[str] = Counter()
        speedups: dict[str, list[float]] = defaultdict(list)
        for medians in by_shape.values():
            best = min(medians, key=medians.get)
            wins[best] += 1
            if "torch" in medians:
                speedups[best].append(medians["torch"] / medians[best])
        parts = []
        for backend, count in wins.most_common():
            vs = f", {statistics.median(speedups[backend]):.2f}x torch" if speedups[backend] else ""
            parts.append(f"{backend} {count}/{len(by_shape)}{vs}")
        lines.append(f"  {cell:8s} {mode:9s}: " + "; ".join(parts))
    for record in rnnref["failed"]:
        lines.append(f"FAILED {record['case']}: {record['error']}")
    warnings = rnnref.get("noise_warnings") or []
    noisy_rows = [w for w in warnings if not w.startswith(BUSY)]
    lines += [w for w in warnings if w.startswith(BUSY)]
    if noisy_rows:
        lines.append(
            f"noise warnings: {len(noisy_rows)} rows with IQR > 10% of median (see report)"
        )
    return lines
