"""The headline table: the fastest backend for each cell, mode, batch and shape.

Backends are compared only on identical work (every key field equal but
backend, dtype and device). The speedup is torch eager's median over the
fastest backend's median, so 1.0 means torch eager itself is fastest.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reports.cases import SHAPE_FIELDS, reading_key, shape_label

BASELINE = "torch"
"""The backend speedups are measured against: torch eager on CPU."""


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (cell, mode, batch, shape) with the fastest backend and its speedup.

    Each entry: cell, mode, batch, shape (label), fastest (row), runner_up
    (row or None), baseline (torch eager row or None), speedup (float or None),
    backends (how many were compared).
    """
    fields = ("cell", "mode", "batch", *SHAPE_FIELDS)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[f] for f in fields)].append(row)
    entries = []
    for group in groups.values():
        ranked = sorted(group, key=lambda r: r["median"])
        fastest = ranked[0]
        baseline = next((r for r in group if r["backend"] == BASELINE), None)
        entries.append(
            {
                "cell": fastest["cell"],
                "mode": fastest["mode"],
                "batch": fastest["batch"],
                "shape": shape_label(fastest),
                "fastest": fastest,
                "runner_up": ranked[1] if len(ranked) > 1 else None,
                "baseline": baseline,
                "speedup": baseline["median"] / fastest["median"] if baseline else None,
                "backends": len(group),
            }
        )
    entries.sort(key=lambda e: reading_key(e["fastest"]))
    return entries
