"""Replay one captured recurrent layer through rnnref, step by step, in float64.

Two backward passes through the same forward:

- the **real** pass with the captured upstream gradient; its input gradient
  must agree with torch's own (``agreement``) before its per-step gradients
  dL/dh_t are trusted;
- the **end** pass, once per direction: a seeded random unit vector per
  sequence on that direction's final state of the top layer and nothing
  else, so dL/dh_t of every layer in that direction shows how a gradient
  from the end of the sequence travels back through time (Pascanu et al.
  2013, eq. 3-5: the product of step Jacobians). One pass per direction
  keeps a stacked bidirectional layer's curve from mixing in the other
  direction's end, which lies at the opposite end of the sequence.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnref
from diagnostics.capture import LayerCall

AGREEMENT_TOL = 1e-3
"""Largest relative error (rnnref.relative_error) between the replay's input gradient
and torch's. rnnref matches torch to 1e-4 in float32 (DESIGN.md, parity); the replay
runs a float32 model's inputs in float64, so allow one more decade of round-off.
When the layer amplifies round-off (a chaotic or exploding recurrence), the float32
gradient torch computed inside the model can differ from any float64 computation by
more; the replay is then checked against the same torch layer run in float64 on the
captured input, state and upstream gradient, with the same tolerance."""


@dataclass
class Replay:
    """A replayed layer: the rnnref model, its traces, and the two gradients per step.

    traces[(layer, direction)]: rnnref.LayerTrace of the forward and the real
    backward. end_states[(layer, direction)]: (T, B, P) dL/dh_t of the end
    pass; end_cells likewise (T, B, H) for an LSTM, else None.
    agreement: relative error of the input gradient against torch's gradient
    inside the model, or None when no gradient reached the layer's input in
    torch (nothing to check). agreement_float64: against the torch layer rerun
    in float64, computed only when ``agreement`` is above the tolerance.
    """

    call: LayerCall
    model: rnnref.RNNBase
    agreement: float | None
    agreement_float64: float | None
    traces: dict[tuple[int, int], rnnref.LayerTrace]
    end_states: dict[tuple[int, int], np.ndarray]
    end_cells: dict[tuple[int, int], np.ndarray | None]

    @property
    def trusted(self) -> bool:
        """The real pass agrees with torch (or there was nothing to compare)."""
        if self.agreement is None or self.agreement <= AGREEMENT_TOL:
            return True
        return self.agreement_float64 is not None and self.agreement_float64 <= AGREEMENT_TOL

    @property
    def keys(self) -> list[tuple[int, int]]:
        """(layer, direction) pairs in order."""
        return list(self.traces)


def end_gradient(h_n: np.ndarray, num_directions: int, direction: int, seed: int) -> np.ndarray:
    """dL/dh_n for an end pass: a unit vector per sequence on the top layer's ``direction``.

    h_n: (L*D, B, P) or unbatched (L*D, P); returns the same shape, zeros elsewhere.
    """
    grad = np.zeros_like(h_n)
    top = grad[len(grad) - num_directions + direction]
    values = np.random.default_rng(seed).standard_normal(top.shape)
    top[...] = values / np.linalg.norm(values, axis=-1, keepdims=True)
    return grad


def replay(call: LayerCall, seed: int) -> Replay:
    """Run ``call`` through rnnref (float64, no dropout): forward, real and end backward."""
    model = rnnref.from_torch(call.module, dtype=np.float64).eval()
    out, h_n = model(call.x, call.hx, call.lengths)
    grads = model.backward(call.grad_out, call.grad_hn)
    keys = [(layer, d) for layer in range(model.num_layers) for d in range(model.num_directions)]
    traces = {key: model.trace(*key) for key in keys}

    agreement = agreement_float64 = None
    if not np.all(np.isfinite(grads.input)):
        agreement = float("inf")
    elif np.any(call.grad_input != 0):
        agreement = rnnref.relative_error(grads.input, call.grad_input)
        if not agreement <= AGREEMENT_TOL:
            agreement_float64 = rnnref.relative_error(grads.input, torch_float64_grad(call))

    h_last = h_n[0] if isinstance(h_n, tuple) else h_n
    end_states, end_cells = {}, {}
    for direction in range(model.num_directions):
        end = end_gradient(h_last, model.num_directions, direction, seed + direction)
        model.backward(np.zeros_like(out), (end, None) if isinstance(h_n, tuple) else end)
        for layer in range(model.num_layers):
            trace = model.trace(layer, direction)
            end_states[(layer, direction)] = trace.grad_states
            end_cells[(layer, direction)] = trace.grad_cells
    return Replay(
        call=call,
        model=model,
        agreement=agreement,
        agreement_float64=agreement_float64,
        traces=traces,
        end_states=end_states,
        end_cells=end_cells,
    )


def torch_float64_grad(call: LayerCall) -> np.ndarray:
    """dL/dx of the torch layer itself rerun in float64 on CPU with the captured tensors."""
    layer = copy.deepcopy(call.module).to("cpu", torch.float64).eval()
    x = torch.from_numpy(call.x).requires_grad_()
    hx = call.hx
    if hx is not None:
        hx = tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)
    if call.lengths is None:
        out, h_n = layer(x, hx)
    else:
        packed = pack_padded_sequence(
            x, torch.from_numpy(call.lengths), layer.batch_first, enforce_sorted=False
        )
        out, h_n = layer(packed, hx)
        out = pad_packed_sequence(
            out, layer.batch_first, total_length=call.x.shape[1 if layer.batch_first else 0]
        )[0]
    loss = (out * torch.from_numpy(call.grad_out)).sum()
    parts = h_n if isinstance(h_n, tuple) else (h_n,)
    grads = call.grad_hn if isinstance(call.grad_hn, tuple) else (call.grad_hn,)
    for part, grad in zip(parts, grads, strict=True):
        loss = loss + (part * torch.from_numpy(grad)).sum()
    loss.backward()
    return x.grad.numpy()
