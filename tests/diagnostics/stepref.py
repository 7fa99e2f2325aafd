"""The step s_{t-1} -> s_t of a replayed layer written in torch: the reference the probes'
closed-form step Jacobians (diagnostics.probes.spectrum) are checked against, by autograd."""

from collections.abc import Callable

import numpy as np
import torch

import rnnref


def step_function(
    model: rnnref.RNNBase, layer: int, direction: int
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """s_{t-1}, xp_t -> s_t for one sample, in torch float64 (s = h, or cat(h, c) for LSTM).

    xp_t is the input part of the pre-activations: W_ih x_t + b_ih (+ b_hh except GRU).
    A float32 replay's parameters are widened to float64 (exactly).
    """
    p = {k: torch.from_numpy(v.astype(np.float64)) for k, v in model.params.items()}
    sfx = rnnref.param_suffix(layer, direction)
    w_hh = p["weight_hh" + sfx]
    kind = model.cell_type.name
    if kind.startswith("rnn"):
        act = torch.tanh if kind == "rnn_tanh" else torch.relu
        return lambda h, xp: act(xp + w_hh @ h)
    if kind == "gru":
        b_hh = p.get("bias_hh" + sfx, torch.zeros(w_hh.shape[0], dtype=w_hh.dtype))

        def gru(h: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
            xr, xz, xn = xp.chunk(3)
            hr, hz, hn = (w_hh @ h + b_hh).chunk(3)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return (1 - z) * n + z * h

        return gru
    w_hr = p.get("weight_hr" + sfx)
    size = model.output_size

    def lstm(s: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        h, c = s[:size], s[size:]
        i, f, g, o = (xp + w_hh @ h).chunk(4)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        if w_hr is not None:
            h_new = w_hr @ h_new
        return torch.cat([h_new, c_new])

    return lstm


def input_projection(
    model: rnnref.RNNBase, inputs: np.ndarray, layer: int, direction: int
) -> np.ndarray:
    """xp as :func:`step_function` takes it, for layer inputs (..., I) -> (..., G*H)."""
    p, sfx = model.params, rnnref.param_suffix(layer, direction)
    xp = inputs @ p["weight_ih" + sfx].T
    if model.bias:
        xp = xp + p["bias_ih" + sfx]
        if model.cell != "gru":
            xp = xp + p["bias_hh" + sfx]
    return xp
