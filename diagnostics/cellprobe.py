"""Probes of an nn.RNNCell, nn.LSTMCell or nn.GRUCell stepped in a Python loop.

A cell loop needs no replay: :class:`diagnostics.capture.CellLoop` holds every
step's input and state, the real dL/dh_t of each step's hidden output and the
end pass through the loop's own autograd graph (so whatever the loop does
between steps, attention or feeding back a prediction, is part of it). The
record has the keys of :func:`diagnostics.layerprobe.probe_layer`'s (layer 0,
direction 0, ``stepped`` True); the step Jacobian is not sampled (its mean is None).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from diagnostics.capture import CellLoop
from diagnostics.kinds import cell_kind
from diagnostics.probes import gradtime, nonfinite, saturation, spectrum
from diagnostics.probes.stats import num


def gates(cell: nn.RNNCellBase, x: torch.Tensor, h: torch.Tensor) -> dict[str, np.ndarray]:
    """Gate activations of every step, in float64: x (T, B, I), h (T, B, H) the previous
    states -> {name: (T, B, H)} (LSTM i f g o, GRU r z n; none for a plain RNN cell)."""
    kind = cell_kind(cell)
    if kind.startswith("rnn"):
        return {}
    p = {name: value.detach().to("cpu", torch.float64) for name, value in cell.named_parameters()}
    xp = x @ p["weight_ih"].T + p.get("bias_ih", 0)
    hp = h @ p["weight_hh"].T + p.get("bias_hh", 0)
    if kind == "lstm":
        i, f, g, o = (xp + hp).chunk(4, dim=-1)
        values = {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
    else:
        xr, xz, xn = xp.chunk(3, dim=-1)
        hr, hz, hn = hp.chunk(3, dim=-1)
        r = (xr + hr).sigmoid()
        values = {"r": r, "z": (xz + hz).sigmoid(), "n": (xn + r * hn).tanh()}
    return {name: v.numpy() for name, v in values.items()}


def cell_config(cell: nn.RNNCellBase) -> dict[str, Any]:
    """A cell's configuration in the keys of ``pipeline.module_record`` (one layer, one
    direction, never packed)."""
    kind = cell_kind(cell)
    return {
        "mode": {"lstm": "LSTM", "gru": "GRU"}.get(kind, kind.upper()),
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


def probe_cell_loop(loop: CellLoop) -> dict[str, Any]:
    """The record of one cell loop (after ``Capture.finish``; ``loop.error`` is None)."""
    cell, kind = loop.module, cell_kind(loop.module)
    to64 = {"device": "cpu", "dtype": torch.float64}
    x = torch.stack([t.to(**to64) for t in loop.inputs])
    h_prev = torch.stack([hx[0].to(**to64) for hx in loop.hx])
    grad_states, end = loop.grad_states, loop.end_states
    states = loop.states
    trace = SimpleNamespace(gates=gates(cell, x, h_prev), states=states, mask=None)
    curve = gradtime.end_curve(end, None, False)
    w_hh = cell.weight_hh.detach().to(**to64).numpy()
    return {
        "module": loop.name,
        "cell": kind,
        "layer": 0,
        "direction": 0,
        "stepped": True,
        "steps": len(loop.inputs),
        "batch": int(x.shape[1]),
        "hidden": int(cell.hidden_size),
        "trusted": True,
        "states_norm": gradtime.state_curve(states, None),
        "h_n_norm": gradtime.final_state_norm(states, None, False),
        "grad_states_norm": gradtime.real_curve(grad_states),
        **gradtime.reach(grad_states, False),
        "grad_cells_norm": None,
        "end_curve": [num(v) for v in curve],
        "end_cell_curve": None
        if loop.end_cells is None
        else [num(v) for v in gradtime.end_curve(loop.end_cells, None, False)],
        **gradtime.summarize(curve),
        "spectrum": spectrum.recurrent_spectrum(w_hh, kind),
        "step_jacobian": {"mean": None, "max": None, "samples": 0},
        "saturation": saturation.saturation(trace, kind),
        "dead_units": saturation.dead_units(trace) if kind == "rnn_relu" else None,
        "nonfinite": nonfinite.layer_nonfinite(states, grad_states, False),
        "grad_subnormal_fraction": gradtime.subnormal_fraction(grad_states),
    }
