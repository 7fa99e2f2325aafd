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


def histogram(values: np.ndarray, low: float, high: float, bins: int = 20) -> dict[str, Any]:
    """Counts of the finite ``values`` in ``bins`` equal bins over [low, high] (clipped into it).

    Returns edges (bins + 1), counts (bins) and num, min, max, sum, sum_squares
    of the finite values (what a TensorBoard histogram needs).
    """
    finite = np.asarray(values, dtype=np.float64).ravel()
    finite = finite[np.isfinite(finite)]
    counts, edges = np.histogram(np.clip(finite, low, high), bins=bins, range=(low, high))
    return {
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "num": int(finite.size),
        "min": num(finite.min()) if finite.size else None,
        "max": num(finite.max()) if finite.size else None,
        "sum": num(finite.sum()),
        "sum_squares": num(np.square(finite).sum()),
    }
