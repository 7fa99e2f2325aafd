"""Small numeric helpers shared by the probes: JSON-safe floats and histograms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def num(value: Any) -> float | None:
    """A finite float, or None for NaN, Inf or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def nums(values: Any) -> list[float | None]:
    """:func:`num` over an array."""
    return [num(v) for v in np.asarray(values, dtype=np.float64).ravel()]


CHUNK = 1 << 16
"""Values :func:`histogram` reads at a time: its temporaries stay small and in cache (a
full-size float64 copy of a layer's gates, 13 MB, cost more in fresh pages than the rest
of the histogram)."""


def histogram(values: np.ndarray, low: float, high: float, bins: int = 20) -> dict[str, Any]:
    """Counts of the finite ``values`` (any shape) in ``bins`` equal bins over [low, high]
    (clipped into it), low < high.

    Returns edges (bins + 1), counts (bins) and num, min, max, sum, sum_squares
    of the finite values (what a TensorBoard histogram needs). The counts are
    np.histogram's (a value on an inner edge in the bin above it, ``high`` in the last)
    up to float64 round-off at the edges. The values are read about CHUNK at a time, a
    few rows of the last axis at once, so a strided view (one gate of a layer's
    activations) is never copied whole.
    """
    values = np.asarray(values)
    rows = values.reshape(-1, values.shape[-1] if values.ndim else 1)
    step = max(1, CHUNK // max(1, rows.shape[1]))
    counts = np.zeros(bins, np.int64)
    size, total, squares, smallest, largest = 0, 0.0, 0.0, math.inf, -math.inf
    scale = bins / (high - low)
    for start in range(0, rows.shape[0], step):
        chunk = rows[start : start + step].astype(np.float64).ravel()
        if not np.isfinite(chunk).all():
            chunk = chunk[np.isfinite(chunk)]
        if not chunk.size:
            continue
        size += chunk.size
        total += chunk.sum()
        squares += np.dot(chunk, chunk)
        smallest, largest = min(smallest, chunk.min()), max(largest, chunk.max())
        np.clip(chunk, low, high, out=chunk)
        chunk -= low
        chunk *= scale
        counts += np.bincount(np.minimum(chunk.astype(np.intp), bins - 1), minlength=bins)
    return {
        "edges": np.linspace(low, high, bins + 1).tolist(),
        "counts": counts.tolist(),
        "num": size,
        "min": num(smallest) if size else None,
        "max": num(largest) if size else None,
        "sum": num(total),
        "sum_squares": num(squares),
    }
