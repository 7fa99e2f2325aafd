"""Replay one captured recurrent layer through rnnref, step by step, in float64.

Two backward passes through the same forward:

- the **real** pass with the captured upstream gradient; its input gradient
  must agree with torch's own (``agreement``) before its per-step gradients
  dL/dh_t are trusted;
- the **end** pass: a seeded random unit vector per sequence on the final
  state of the top layer (both directions) and nothing else, so dL/dh_t
  shows how a gradient from the end of the sequence travels back through
  time (Pascanu et al. 2013, eq. 3-5: the product of step Jacobians).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import rnnref
from diagnostics.capture import LayerCall

AGREEMENT_TOL = 1e-3
"""Largest relative error (rnnref.relative_error) between the replay's input gradient
and torch's. rnnref matches torch to 1e-4 in float32 (DESIGN.md, parity); the replay
runs a float32 model's inputs in float64, so allow one more decade of round-off."""


@dataclass
class Replay:
    """A replayed layer: the rnnref model, its traces, and the two gradients per step.

    traces[(layer, direction)]: rnnref.LayerTrace of the forward and the real
    backward. end_states[(layer, direction)]: (T, B, P) dL/dh_t of the end
    pass; end_cells likewise (T, B, H) for an LSTM, else None.
    agreement: relative error of the input gradient against torch, or None
    when no gradient reached the layer's input in torch (nothing to check).
    """

    call: LayerCall
    model: rnnref.RNNBase
    agreement: float | None
    traces: dict[tuple[int, int], rnnref.LayerTrace]
    end_states: dict[tuple[int, int], np.ndarray]
    end_cells: dict[tuple[int, int], np.ndarray | None]

    @property
    def trusted(self) -> bool:
        """The real pass agrees with torch (or there was nothing to compare)."""
        return self.agreement is None or self.agreement <= AGREEMENT_TOL

    @property
    def keys(self) -> list[tuple[int, int]]:
        """(layer, direction) pairs in order."""
        return list(self.traces)


def end_gradient(h_n: np.ndarray, num_directions: int, seed: int) -> np.ndarray:
    """dL/dh_n for the end pass: a unit vector per sequence on the top layer, zeros below.

    h_n: (L*D, B, P) or unbatched (L*D, P); returns the same shape.
    """
    grad = np.zeros_like(h_n)
    top = grad[-num_directions:]
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(top.shape)
    top[...] = values / np.linalg.norm(values, axis=-1, keepdims=True)
    return grad


def replay(call: LayerCall, seed: int) -> Replay:
    """Run ``call`` through rnnref (float64, no dropout): forward, real and end backward."""
    model = rnnref.from_torch(call.module, dtype=np.float64).eval()
    out, h_n = model(call.x, call.hx, call.lengths)
    grads = model.backward(call.grad_out, call.grad_hn)
    keys = [(layer, d) for layer in range(model.num_layers) for d in range(model.num_directions)]
    traces = {key: model.trace(*key) for key in keys}

    agreement = None
    if np.any(call.grad_input != 0) and np.all(np.isfinite(grads.input)):
        agreement = rnnref.relative_error(grads.input, call.grad_input)
    elif not np.all(np.isfinite(grads.input)):
        agreement = float("inf")

    h_last = h_n[0] if isinstance(h_n, tuple) else h_n
    end = end_gradient(h_last, model.num_directions, seed)
    model.backward(np.zeros_like(out), (end, None) if isinstance(h_n, tuple) else end)
    end_traces = {key: model.trace(*key) for key in keys}
    return Replay(
        call=call,
        model=model,
        agreement=agreement,
        traces=traces,
        end_states={key: tr.grad_states for key, tr in end_traces.items()},
        end_cells={key: tr.grad_cells for key, tr in end_traces.items()},
    )
