"""Probes of an nn.RNNCell, nn.LSTMCell or nn.GRUCell stepped in a Python loop.

A cell loop needs no replay: :class:`diagnostics.capture.CapturedCellLoop` holds every
step's input and state, the real dL/dh_t of each step's hidden output and the
end pass through the loop's own autograd graph (so whatever the loop does
between steps, attention or feeding back a prediction, is part of it). The
record is a :class:`diagnostics.layerrecord.LayerRecord` like
:func:`diagnostics.layerprobe.probe_layer`'s (layer 0, direction 0, ``stepped`` True); the
step Jacobian is not sampled (its mean is None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from diagnostics.capture import CapturedCellLoop
from diagnostics.layerrecord import LayerIdentity, LayerRecord
from diagnostics.probes.view import LayerView
from rnnref.interop import torch_cell_type


def gates(
    cell: nn.RNNCellBase, x: np.ndarray, h: np.ndarray, c: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Gate activations of every step, through rnnref's step (:mod:`rnnref.steps`) in
    float64: x (T, B, I), h (T, B, H) the previous states, c (T, B, H) the previous cell
    states (LSTM) or None -> {name: (T, B, H)} (LSTM i f g o, GRU r z n; none for a
    plain RNN cell)."""
    record = torch_cell_type(cell)
    p = {name: _float64(value) for name, value in cell.named_parameters()}
    xp = x @ p["weight_ih"].T + p.get("bias_ih", 0)
    hp = h @ p["weight_hh"].T + p.get("bias_hh", 0)
    return record.gates(record.step(np, xp, hp, h, c))


def _float64(tensor: torch.Tensor) -> np.ndarray:
    """A detached float64 NumPy copy of ``tensor`` (on the CPU)."""
    return tensor.detach().to("cpu", torch.float64).numpy()


def cell_config(cell: nn.RNNCellBase) -> dict[str, Any]:
    """A cell's configuration in the keys of ``pipeline.module_record`` (one layer, one
    direction, never packed)."""
    return {
        "mode": torch_cell_type(cell).torch_op.upper(),  # torch's name, as nn.RNNBase.mode
        "probe": "the autograd graph of the loop",
        "input_size": cell.input_size,
        "hidden_size": cell.hidden_size,
        "num_layers": 1,
        "bidirectional": False,
        "batch_first": None,
        "proj_size": 0,
        "dropout": 0.0,
        "packed": False,
    }


def loop_view(loop: CapturedCellLoop) -> LayerView:
    """The view of a cell loop (after ``Capture.finish``): its own states and gradients, the
    gates through rnnref's step (:func:`gates`), no step Jacobian."""
    cell = loop.module
    record = torch_cell_type(cell)
    x = np.stack([_float64(t) for t in loop.inputs])
    h_prev = np.stack([_float64(hx[0]) for hx in loop.hx])
    c_prev = np.stack([_float64(hx[1]) for hx in loop.hx]) if record.cell_state else None
    return LayerView(
        kind=record.name,
        reverse=False,
        states=loop.states,
        mask=None,
        gates=gates(cell, x, h_prev, c_prev),
        grad_states=loop.grad_states,
        grad_cells=None,
        end_states=loop.end_states,
        end_cells=loop.end_cells,
        end_mask=None,
        w_hh=_float64(cell.weight_hh),
        replayed=None,
    )


def probe_cell_loop(loop: CapturedCellLoop, layer: int = 0, chained: bool = False) -> LayerRecord:
    """The record of one cell loop (after ``Capture.finish``; ``loop.error`` is None):
    direction 0 of ``layer`` (the index of a layer in a chain of one-step calls,
    ``chained``), probed by :data:`diagnostics.probes.recurrent.PROBES`."""
    identity = LayerIdentity(
        module=loop.name,
        cell=torch_cell_type(loop.module).name,
        layer=layer,
        direction=0,
        steps=len(loop.inputs),
        batch=int(loop.inputs[0].shape[0]),
        hidden=int(loop.module.hidden_size),
        trusted=True,
        stepped=True,
        chained=chained,
    )
    return LayerRecord.probe(identity, loop_view(loop))
