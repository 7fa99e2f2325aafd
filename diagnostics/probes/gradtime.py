"""Gradient through time: ||dL/dh_t|| per step, its decay rate and the effective horizon.

``steps back`` counts from each sequence's own end in the direction's
processing order: for the forward direction k = 0 is the sequence's last
valid step, for the reverse direction it is step 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from diagnostics.probes.stats import num, nums

HORIZON_FALL = 1e-3
"""The effective horizon is the number of steps back until the gradient from the end
has fallen 1000-fold (this project's definition; 1e-3 is three decades, well past float32's
useful range for a sum of many such terms)."""


def step_norms(grad: np.ndarray) -> np.ndarray:
    """Per step and sequence norm over the hidden axis: (T, B, P) -> (T, B)."""
    return np.sqrt(np.einsum("tbp,tbp->tb", grad, grad))


def real_curve(grad: np.ndarray) -> list[float | None]:
    """||dL/dh_t|| over the batch and hidden units per step, in real time order: (T, B, P) -> T."""
    return nums(np.sqrt(np.einsum("tbp,tbp->t", grad, grad)))


def reach(grad: np.ndarray, reverse: bool) -> dict[str, int]:
    """How far the loss's real gradient dL/dh_t (T, B, P) reaches into a direction:
    steps_reached, the steps where it is not zero for some sequence, and reach_span, how
    many of the steps the direction runs first hold all of those. Steps count in the order
    the direction runs them (``reverse``: from the last); a non-finite value counts."""
    reached = np.flatnonzero(np.any(grad != 0, axis=(1, 2))[:: -1 if reverse else 1])
    return {
        "steps_reached": len(reached),
        "reach_span": int(reached[-1]) + 1 if len(reached) else 0,
    }


FLOAT32_SUBNORMAL = (
    float(np.finfo(np.float32).smallest_subnormal),
    float(np.finfo(np.float32).tiny),
)
"""The magnitudes float32 holds only as subnormals, 1.4e-45 up to (not including) its smallest
normal number 1.18e-38; below the range float32 has only zero."""


def subnormal_fraction(grad: np.ndarray) -> float | None:
    """The share of the values of ``grad`` (T, B, P) that are subnormal in float32 (None when
    there are none or some are not finite)."""
    size = np.abs(grad)
    if not size.size or not np.all(np.isfinite(size)):
        return None
    low, high = FLOAT32_SUBNORMAL
    return float(np.count_nonzero((size >= low) & (size < high)) / size.size)


def state_curve(states: np.ndarray, mask: np.ndarray | None) -> list[float | None]:
    """RMS over sequences of ||h_t|| per step, padding left out: (T, B, P) -> T.

    The hidden-state norm the tutorials plot; None at a step no sequence reaches.
    """
    norms = step_norms(states)
    if mask is not None:
        norms = np.where(mask, norms, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-padding steps
        return nums(np.sqrt(np.nanmean(np.square(norms), axis=1)))


def final_state_norm(states: np.ndarray, mask: np.ndarray | None, reverse: bool) -> float | None:
    """RMS over sequences of ||h|| at each sequence's last step in this direction: (T, B, P)."""
    last = align_steps_back(step_norms(states), mask, reverse)[0]
    return num(np.sqrt(np.mean(np.square(last)))) if last.size else None


def align_steps_back(norms: np.ndarray, mask: np.ndarray | None, reverse: bool) -> np.ndarray:
    """(T, B) per-step norms -> (T, B) indexed by steps back from each sequence's end.

    Entries past a sequence's length are NaN.
    """
    num_steps, batch = norms.shape
    lengths = np.full(batch, num_steps) if mask is None else mask.sum(axis=0)
    back = np.arange(num_steps)[:, None]
    t = back if reverse else lengths[None, :] - 1 - back
    valid = back < lengths[None, :]
    picked = norms[np.clip(t, 0, num_steps - 1), np.arange(batch)[None, :]]
    return np.where(valid, picked, np.nan)


def end_curve(grad: np.ndarray, mask: np.ndarray | None, reverse: bool) -> np.ndarray:
    """RMS over sequences of ||dL/dh|| k steps back from the end, divided by its value at k = 0.

    grad: (T, B, P) from the end pass. Returns (T,) floats: all zeros when no
    gradient reaches the layer at all, NaN where values are not finite.
    """
    aligned = align_steps_back(step_norms(grad), mask, reverse)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rms = np.sqrt(np.nanmean(np.square(aligned), axis=1))
        if rms[0] == 0:
            return np.zeros_like(rms)
        return rms / rms[0]


def summarize(curve: np.ndarray) -> dict[str, Any]:
    """Decay per step (geometric fit), effective horizon and largest growth of an end curve.

    decay_per_step: exp of the least-squares slope of log(curve) over the steps
    before it first reaches zero (< 1 decays, > 1 grows); horizon: first k with
    curve[k] <= HORIZON_FALL, None if it never falls that far; growth: max of
    the curve (> 1: the gradient grows going back).
    """
    if curve.size == 0 or not np.all(np.isfinite(curve)):
        return {"decay_per_step": None, "horizon": None, "growth": None}
    fallen = np.flatnonzero(curve <= HORIZON_FALL)
    horizon = int(fallen[0]) if fallen.size else None
    positive = np.flatnonzero(curve <= 0)
    usable = curve[: positive[0]] if positive.size else curve
    decay = None
    if usable.size >= 2:
        slope = np.polyfit(np.arange(usable.size), np.log(usable), 1)[0]
        decay = num(np.exp(slope))
    elif usable.size == 1 and curve.size > 1:
        decay = 0.0
    return {"decay_per_step": decay, "horizon": horizon, "growth": num(curve.max())}
