"""One probed recurrent layer and direction, as every layer probe reads it.

Two sources fill it: a replayed nn.RNN/LSTM/GRU layer (:mod:`diagnostics.layerprobe`,
from :class:`diagnostics.replay.Replay`) and a cell stepped in a loop or a layer called
once per step (:mod:`diagnostics.cellprobe`, from
:class:`diagnostics.capture.CapturedCellLoop`). The probes of
:data:`diagnostics.probes.recurrent.PROBES` see only this view, never its source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import rnnref


@dataclass(frozen=True)
class ReplayedStep:
    """What the step Jacobian needs of a replayed layer and direction: the rnnref model,
    the layer's trace (:func:`diagnostics.probes.spectrum.step_jacobian_norms`) and the seed
    the sampled (step, sequence) pairs are drawn with."""

    model: rnnref.RNNBase
    trace: rnnref.LayerTrace
    layer: int
    direction: int
    seed: int


@dataclass(frozen=True)
class LayerView:
    """The trajectory and gradients of one layer and direction, time-major, real time order.

    kind: the cell type's name (rnnref.CELL_TYPES); reverse: the direction runs from the
    last step. states (T, B, P) h_t; mask (T, B) valid steps or None; gates name ->
    (T, B, H) activations; grad_states (T, B, P) the real dL/dh_t; grad_cells (T, B, H)
    the real dL/dc_t of an LSTM, or None; end_states (T, B', P) dL/dh_t of the end pass
    (a seeded unit vector per sequence on the direction's final state), end_cells
    (T, B', H) the same for c (LSTM) or None, end_mask (T, B') their valid steps or None;
    w_hh (G*H, P) the recurrent weights; replayed: what the step Jacobian needs, None
    where it is not sampled (a cell loop).
    """

    kind: str
    reverse: bool
    states: np.ndarray
    mask: np.ndarray | None
    gates: dict[str, np.ndarray]
    grad_states: np.ndarray
    grad_cells: np.ndarray | None
    end_states: np.ndarray
    end_cells: np.ndarray | None
    end_mask: np.ndarray | None
    w_hh: np.ndarray
    replayed: ReplayedStep | None
