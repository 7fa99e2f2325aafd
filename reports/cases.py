"""Rows of a run as flat dicts, and grouping of cases that differ in one field.

A *row* is one benchmark's ``extra_info`` plus its timing summary:
``median`` and ``iqr`` (seconds), ``rounds``, ``data`` (raw timings),
``name`` and ``noisy`` (IQR above :data:`NOISY_IQR` of the median).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from reports.runfile import KEY_FIELDS, case_key

NOISY_IQR = 0.10
"""A row whose IQR exceeds this fraction of its median is noisy: bench writes a noise
warning for it into the run file, the reports flag it."""

NOISY_RULE = f"IQR above {NOISY_IQR:.0%} of the median"
"""The noisy-row rule in words, for summaries."""


def is_noisy(median: float, iqr: float | None) -> bool:
    """Whether a row of this ``median`` and ``iqr`` (seconds; None if unknown) is noisy."""
    return iqr is not None and median > 0 and iqr / median > NOISY_IQR


def noise_warning(case: str, median: float, iqr: float, rounds: int) -> str:
    """The warning line of a noisy row: ``CASE: IQR 20% of the median over 9 rounds``."""
    return f"{case}: IQR {iqr / median:.0%} of the median over {rounds} rounds"


_BACKEND_BOUND = ("backend", "dtype", "device")
"""Fields that go with the backend (int8 runs in qint8, cudnn on cuda)."""

SHAPE_FIELDS = tuple(f for f in KEY_FIELDS if f not in ("cell", "mode", "batch", *_BACKEND_BOUND))
"""Key fields that describe the shape of the work, apart from cell, mode, batch, backend:
seq_len, input_size, hidden_size, num_layers, bidirectional, layout, fill."""

READING_ORDER = (
    "cell",
    "mode",
    *SHAPE_FIELDS,
    "batch",
    "backend",
    "dtype",
    "device",
)
"""Row order in tables: backends of one case side by side, batches in increasing order."""


def flat_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat dict per benchmark of ``run``, in :data:`READING_ORDER`."""
    rows = []
    for bench in run["benchmarks"]:
        stats = bench["stats"]
        row = dict(bench["extra_info"])
        median = float(stats["median"])
        iqr = stats.get("iqr")
        row.update(
            name=bench.get("name", ""),
            median=median,
            iqr=iqr,
            rounds=stats.get("rounds"),
            data=stats.get("data"),
            noisy=is_noisy(median, iqr),
            key=case_key(bench),
        )
        rows.append(row)
    return sorted(rows, key=reading_key)


def reading_key(row: dict[str, Any]) -> tuple[tuple[int, Any], ...]:
    """Sort key putting rows in :data:`READING_ORDER`."""
    return tuple(_sortable(row[f]) for f in READING_ORDER)


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers before text, each in natural order (a missing value sorts as text)."""
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def shape_label(row: dict[str, Any], fields: Iterable[str] = SHAPE_FIELDS) -> str:
    """A short human label of ``row``'s values for ``fields``: 'seq 100, hidden 256, ...'."""
    names = {
        "seq_len": "seq",
        "input_size": "in",
        "hidden_size": "hidden",
        "num_layers": "layers",
        "fill": "fill",
        "batch": "batch",
    }
    parts = []
    for field in fields:
        value = row[field]
        if field == "bidirectional":
            parts.append("bi" if value else "uni")
        elif field in names:
            parts.append(f"{names[field]} {value}")
        else:
            parts.append(str(value))
    return ", ".join(parts)


def case_label(row: dict[str, Any]) -> str:
    """The whole case in one line: backend, cell, mode, batch, shape, dtype, device."""
    head = f"{row['backend']} {row['cell']} {row['mode']} batch {row['batch']}"
    return f"{head}, {shape_label(row)}, {row['dtype']}, {row['device']}"


def variants(rows: list[dict[str, Any]], field: str) -> list[dict[Any, dict[str, Any]]]:
    """Groups of rows equal in every key field but ``field``: each maps its value to the row.

    When ``field`` is ``backend``, dtype and device may differ too (they go with
    the backend). Groups with a single row are dropped.
    """
    ignore = set(_BACKEND_BOUND) if field == "backend" else {field}
    fixed = [f for f in KEY_FIELDS if f not in ignore]
    groups: dict[tuple[Any, ...], dict[Any, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        groups[tuple(row[f] for f in fixed)][row[field]] = row
    return [group for group in groups.values() if len(group) > 1]
