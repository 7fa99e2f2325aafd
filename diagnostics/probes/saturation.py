"""Saturation of gates and tanh units, and dead ReLU units, along the real trajectory.

The cut-offs follow Karpathy, Johnson and Fei-Fei, "Visualizing and
Understanding Recurrent Networks" (2015), section 4.2: a sigmoid gate is
left-saturated below 0.1 and right-saturated above 0.9; this project adds the hard
cut-offs 0.01 and 0.99, where the gate's derivative (at most 0.0099) passes
almost no gradient. A tanh value counts as saturated when |v| > 0.9 (soft)
or > 0.99 (hard: derivative below 0.02).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from diagnostics.probes.stats import histogram, num
from rnnref.cells import cell_type

SOFT, HARD = 0.1, 0.01
"""Sigmoid cut-offs: soft below SOFT or above 1 - SOFT, hard below HARD or above 1 - HARD."""

TANH_SOFT, TANH_HARD = 0.9, 0.99
"""tanh cut-offs on |v|."""


class Trajectory(Protocol):
    """What saturation reads of a layer and direction (an rnnref.LayerTrace, or a
    :class:`diagnostics.probes.view.LayerView`): states (T, B, P), gates name -> (T, B, H)
    activations, mask (T, B) valid steps or None."""

    @property
    def states(self) -> np.ndarray: ...

    @property
    def gates(self) -> dict[str, np.ndarray]: ...

    @property
    def mask(self) -> np.ndarray | None: ...


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


def saturation(trace: Trajectory, kind: str) -> dict[str, Any]:
    """Per gate of the cell type ``kind`` (rnnref.CELL_TYPES: LSTM i f g o, GRU r z n; the
    sigmoid gates first, then the tanh ones) and for tanh-bounded states (RNN tanh, GRU h).

    Returns {"gates": {name: stats}, "units": stats or None, "mean_forget": float or None}.
    """
    cell = cell_type(kind)
    measures = {"sigmoid": sigmoid_gate, "tanh": tanh_values}
    gates = {
        block.name: measures[block.activation](valid_values(trace.gates[block.name], trace.mask))
        for activation in measures
        for block in cell.blocks
        if block.gate and block.activation == activation
    }
    units = None
    if cell.state_activation == "tanh":
        units = tanh_values(valid_values(trace.states, trace.mask))
    mean_forget = None if cell.forget_gate is None else gates[cell.forget_gate]["mean"]
    return {"gates": gates, "units": units, "mean_forget": mean_forget}


def dead_units_of(trace: Trajectory, kind: str) -> dict[str, Any] | None:
    """:func:`dead_units` where the cell type ``kind`` has ReLU states (else None)."""
    return dead_units(trace) if cell_type(kind).state_activation == "relu" else None


def dead_units(trace: Trajectory) -> dict[str, Any]:
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
