"""Saturation of gates and tanh units, and dead ReLU units, along the real trajectory.

The cut-offs follow Karpathy, Johnson and Fei-Fei, "Visualizing and
Understanding Recurrent Networks" (2015), section 4.2: a sigmoid gate is
left-saturated below 0.1 and right-saturated above 0.9; issue 5 adds the hard
cut-offs 0.01 and 0.99, where the gate's derivative (at most 0.0099) passes
almost no gradient. A tanh value counts as saturated when |v| > 0.9 (soft)
or > 0.99 (hard: derivative below 0.02).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rnnref
from diagnostics.probes.stats import histogram, num

SOFT, HARD = 0.1, 0.01
"""Sigmoid cut-offs: soft below SOFT or above 1 - SOFT, hard below HARD or above 1 - HARD."""

TANH_SOFT, TANH_HARD = 0.9, 0.99
"""tanh cut-offs on |v|."""

SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}
TANH_GATES = {"lstm": ("g",), "gru": ("n",)}


def valid_values(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(T, B, H) -> (N, H): the valid steps only."""
    return values.reshape(-1, values.shape[-1]) if mask is None else values[mask]


def sigmoid_gate(values: np.ndarray) -> dict[str, Any]:
    """Saturation fractions, mean and histogram of one sigmoid gate's activations (N, H)."""
    size = values.size

    def fraction(count: int) -> float | None:
        return count / size if size else None  # no values: no fraction, as np.mean gave

    # Below SOFT and above 1 - SOFT are disjoint (SOFT < 0.5), so "either" is their sum.
    low_soft, high_soft = np.count_nonzero(values < SOFT), np.count_nonzero(values > 1 - SOFT)
    low_hard, high_hard = np.count_nonzero(values < HARD), np.count_nonzero(values > 1 - HARD)
    return {
        "activation": "sigmoid",
        "mean": num(values.mean()),
        "low_soft": fraction(low_soft),
        "high_soft": fraction(high_soft),
        "low_hard": fraction(low_hard),
        "high_hard": fraction(high_hard),
        "soft": fraction(low_soft + high_soft),
        "hard": fraction(low_hard + high_hard),
        "histogram": histogram(values, 0.0, 1.0),
    }


def tanh_values(values: np.ndarray) -> dict[str, Any]:
    """Saturation fractions and histogram of tanh-valued activations (N, H)."""

    def fraction(cut: float) -> float | None:  # |v| > cut, without a full-size |v|
        beyond = np.count_nonzero(values > cut) + np.count_nonzero(values < -cut)
        return beyond / values.size if values.size else None

    return {
        "activation": "tanh",
        "mean": num(values.mean()),
        "soft": fraction(TANH_SOFT),
        "hard": fraction(TANH_HARD),
        "histogram": histogram(values, -1.0, 1.0),
    }


def saturation(trace: rnnref.LayerTrace, kind: str) -> dict[str, Any]:
    """Per gate (LSTM i f g o, GRU r z n) and for tanh states (RNN tanh, GRU h).

    Returns {"gates": {name: stats}, "units": stats or None, "mean_forget": float or None}.
    """
    gates = {}
    for name in SIGMOID_GATES.get(kind, ()):
        gates[name] = sigmoid_gate(valid_values(trace.gates[name], trace.mask))
    for name in TANH_GATES.get(kind, ()):
        gates[name] = tanh_values(valid_values(trace.gates[name], trace.mask))
    units = None
    if kind in ("rnn_tanh", "gru"):
        units = tanh_values(valid_values(trace.states, trace.mask))
    mean_forget = gates["f"]["mean"] if kind == "lstm" else None
    return {"gates": gates, "units": units, "mean_forget": mean_forget}


def dead_units(trace: rnnref.LayerTrace) -> dict[str, Any]:
    """ReLU units whose state is never positive over the batch and all valid steps."""
    states = valid_values(trace.states, trace.mask)
    dead = ~np.any(states > 0, axis=0)
    finite = states[np.isfinite(states)]
    top = max(float(finite.max()), 1.0) if finite.size else 1.0
    return {
        "count": int(dead.sum()),
        "fraction": num(dead.mean()),
        "units": np.flatnonzero(dead).tolist(),
        "histogram": histogram(states, 0.0, top),
    }
