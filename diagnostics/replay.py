"""Replay one captured recurrent layer through rnnref, step by step.

The replay runs in float32 first, for speed, when the loss reads every step of
the layer's output, and is kept when its input gradient agrees with torch's and
every number it produced is finite; otherwise (a gradient entering at a few
steps only, round-off amplified by the recurrence, a gradient that overflows
float32, NaN/Inf in the layer, a float64 model) it runs in float64, where the
further checks below apply.

- The **real** pass: forward on the captured input and state, backward with
  the captured upstream gradient; its input gradient must agree with torch's
  own (``agreement``) before its per-step gradients dL/dh_t are trusted.
- The **end** passes, one per layer and direction: a seeded random unit
  vector per sequence on that layer's and direction's final state and
  nothing else, so its dL/dh_t shows how a gradient from the end of the
  sequence travels back through that layer's own recurrence (Pascanu et al.
  2013, eq. 3-5: the product of step Jacobians). A gradient put on the top
  layer only would reach a lower layer at every step from above and hide a
  lower layer whose own recurrence loses it. Each end pass is the backward of
  its own layer and direction alone (``rnnref.RNNBase.backward_from_end``):
  the layers above it carry no gradient and the layers below are not read.
  The end passes run on at most
  END_SEQUENCES sequences (drawn with the seed; sequences are independent in
  a recurrent layer), which keeps their cost well below a full backward. They
  run in float64 whatever the real pass's dtype (:func:`_end_passes` says why).
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
and torch's. rnnref matches torch to 1e-4 in float32 (DESIGN.md, parity); allow one
more decade for round-off (the float64 replay of a float32 model differs from torch's
float32 gradient by that round-off, too).
When the layer amplifies round-off (a chaotic or exploding recurrence), the float32
gradient torch computed inside the model can differ from any float64 computation by
more; the replay is then checked against the same torch layer run in float64 on the
captured input, state and upstream gradient, with the same tolerance. When even that
differs (round-off amplified a billion-fold differs between any two implementations),
both run the first SHORT_STEPS steps with a seeded upstream gradient: agreement there
shows the replay computes the same function as the module, and its per-step numbers
are used; a module whose forward does something else fails all three checks."""

SHORT_STEPS = 8
"""Steps of the last-resort check: too few for round-off to grow past the tolerance."""


END_SEQUENCES = 8
"""Sequences the end passes run on (all of them when the batch is smaller)."""


class ReplayRefused(Exception):
    """rnnref refused the captured layer or call (its ValueError message is ``str()``)."""


@dataclass
class Replay:
    """A replayed layer: the rnnref model, its traces, and the two gradients per step.

    traces[(layer, direction)]: rnnref.LayerTrace of the forward and the real
    backward (in ``dtype``). end_states[(layer, direction)]: (T, B', P) float64
    dL/dh_t of that layer's end pass on B' <= END_SEQUENCES sequences; end_cells likewise
    (T, B', H) for an LSTM, else None; end_mask (T, B') valid steps or None.
    agreement: relative error of the input gradient against torch's gradient
    inside the model, or None when there is nothing to check (no gradient
    reached the layer's input in torch, or the layer holds NaN/Inf).
    agreement_float64: against the torch layer rerun in float64, computed only
    when ``agreement`` is above the tolerance;
    agreement_short: rnnref against the torch layer on the first SHORT_STEPS
    steps, computed only when both are above it.
    """

    call: LayerCall
    model: rnnref.RNNBase
    dtype: str
    agreement: float | None
    agreement_float64: float | None
    agreement_short: float | None
    traces: dict[tuple[int, int], rnnref.LayerTrace]
    end_states: dict[tuple[int, int], np.ndarray]
    end_cells: dict[tuple[int, int], np.ndarray | None]
    end_mask: np.ndarray | None

    @property
    def trusted(self) -> bool:
        """The real pass agrees with torch (or there was nothing to compare)."""
        if self.agreement is None:
            return True
        checks = (self.agreement, self.agreement_float64, self.agreement_short)
        return any(value is not None and value <= AGREEMENT_TOL for value in checks)

    @property
    def keys(self) -> list[tuple[int, int]]:
        """(layer, direction) pairs in order."""
        return list(self.traces)


def end_gradient(h_n: np.ndarray, index: int, seed: int) -> np.ndarray:
    """dL/dh for an end pass of h_n[index]: a random unit vector per sequence, (B, P)
    (unbatched: (P,)).

    h_n: (L*D, B, P) or unbatched (L*D, P); index = layer * D + direction.
    """
    values = np.random.default_rng(seed).standard_normal(h_n[index].shape)
    return values / np.linalg.norm(values, axis=-1, keepdims=True)


def _subset(call: LayerCall, seed: int) -> LayerCall:
    """At most END_SEQUENCES sequences of the call, drawn with ``seed`` (all of an unbatched
    or smaller call)."""
    return call.sampled(END_SEQUENCES, np.random.default_rng(seed))


def replay(call: LayerCall, seed: int) -> Replay:
    """Run ``call`` through rnnref (no dropout): forward, real and end backward, in float32
    when that can be trusted, else in float64 (module docstring).

    float32 is tried only when the loss reads every step of the layer's output: a
    gradient that enters at a few steps only (a classifier on the last state) fades
    back through the sequence into float32's subnormal range, where arithmetic is
    10-100 times slower (a 2-layer LSTM, hidden 256, 200 steps, batch 32: 3.7 s for
    the float32 backward, 0.45-0.85 s in float64).

    Raises:
        ReplayRefused: rnnref does not accept this layer or call.
    """
    reads_every_step = call.output_gradient_steps() == call.steps
    if next(call.module.parameters()).dtype != torch.float64 and reads_every_step:
        quick = _replay_in(call, seed, np.float32, second_checks=False)
        agreed = quick.agreement is not None and quick.agreement <= AGREEMENT_TOL
        if agreed and _all_finite(quick):
            return quick
    return _replay_in(call, seed, np.float64, second_checks=True)


def _all_finite(rep: Replay) -> bool:
    arrays = [t.grad_states for t in rep.traces.values()] + list(rep.end_states.values())
    arrays += [cells for cells in rep.end_cells.values() if cells is not None]
    return all(np.all(np.isfinite(a)) for a in arrays)


def _cast(value: object, dtype: type) -> object:
    """A captured array (or tuple of arrays, or None) in the replay's dtype (rnnref, like
    torch, refuses an input whose dtype differs from the weights')."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(part.astype(dtype, copy=False) for part in value)
    return value.astype(dtype, copy=False)


def _replay_in(call: LayerCall, seed: int, dtype: type, second_checks: bool) -> Replay:
    """The replay in ``dtype``; ``second_checks``: when the input gradient disagrees with
    torch's, also check against torch in float64 and on the first SHORT_STEPS steps."""
    try:
        model = rnnref.from_torch(call.module, dtype=dtype).eval()
        _, h_n = model(_cast(call.x, dtype), _cast(call.hx, dtype), call.lengths)
    except ValueError as exc:
        raise ReplayRefused(str(exc)) from exc
    grads = model.backward(_cast(call.grad_out, dtype), _cast(call.grad_hn, dtype), params=False)
    keys = [(layer, d) for layer in range(model.num_layers) for d in range(model.num_directions)]
    traces = {key: model.trace(*key) for key in keys}

    agreement = agreement_float64 = agreement_short = None
    finite = np.all(np.isfinite(call.grad_input)) and all(
        np.all(np.isfinite(trace.states)) for trace in traces.values()
    )
    # NaN/Inf in the layer or in torch's gradient: nothing to compare (the non-finite rule
    # reports it), so no agreement is measured
    if finite and not np.all(np.isfinite(grads.input)):
        agreement = float("inf")
    elif finite and np.any(call.grad_input != 0):
        agreement = rnnref.relative_error(grads.input, call.grad_input)
        if second_checks and not agreement <= AGREEMENT_TOL:
            torch_grad = torch_float64_grad(
                call.module, call.x, call.hx, call.lengths, call.grad_out, call.grad_hn
            )
            agreement_float64 = rnnref.relative_error(grads.input, torch_grad)
        if agreement_float64 is not None and not agreement_float64 <= AGREEMENT_TOL:
            agreement_short = short_check(call, seed)

    end_states, end_cells, end_mask = _end_passes(call, seed, keys, model, h_n)
    return Replay(
        call=call,
        model=model,
        dtype=np.dtype(dtype).name,
        agreement=agreement,
        agreement_float64=agreement_float64,
        agreement_short=agreement_short,
        traces=traces,
        end_states=end_states,
        end_cells=end_cells,
        end_mask=end_mask,
    )


def _end_passes(
    call: LayerCall, seed: int, keys: list[tuple[int, int]], model: rnnref.RNNBase, h_n: object
) -> tuple[dict, dict, np.ndarray | None]:
    """The end passes (module docstring) of each (layer, direction) in ``keys``: dL/dh_t
    (T, B', P) and, for an LSTM, dL/dc_t (T, B', H), and the (T, B') valid steps or None.

    They run in float64 whatever the replay's dtype: a gradient that fades through hundreds
    of steps reaches float32's subnormal range (below 1.2e-38), where each multiply costs
    10-100 times more on x86 (a 2-layer LSTM, hidden 256, 200 steps: 0.6-0.9 s per pass in
    float32, 0.16 s in float64), and float64's starts 270 decades further down. When the
    call has at most END_SEQUENCES sequences they run on ``model``'s own forward (final
    state ``h_n``), widened to float64 (:meth:`rnnref.RNNBase.widened`: exact, no second
    forward); else a float64 copy of the layer runs forward on a subset of them.
    """
    ends = _subset(call, seed)
    if ends is call:
        model = model.widened()
    else:
        model = rnnref.from_torch(call.module, dtype=np.float64).eval()
        _, h_n = model(_cast(ends.x, np.float64), _cast(ends.hx, np.float64), ends.lengths)
    h_last = h_n[0] if isinstance(h_n, tuple) else h_n
    end_states, end_cells = {}, {}
    for index, key in enumerate(keys):
        trace = model.backward_from_end(*key, end_gradient(h_last, index, seed + index))
        end_states[key], end_cells[key] = trace.grad_states, trace.grad_cells
    return end_states, end_cells, model.trace(0, 0).mask


def torch_float64_grad(
    module: torch.nn.RNNBase,
    x: np.ndarray,
    hx: object,
    lengths: np.ndarray | None,
    grad_out: np.ndarray,
    grad_hn: object,
) -> np.ndarray:
    """dL/dx of a float64 CPU copy of the torch layer, arrays in the module's layout.

    L = sum(out * grad_out) + sum(h_n * grad_hn) (each part of an LSTM's h_n; None: no
    h_n term);
    with ``lengths`` the input is packed and the output padded back.
    """
    layer = copy.deepcopy(module).to("cpu", torch.float64).eval()
    x_t = torch.from_numpy(x).requires_grad_()
    if hx is not None:
        hx = tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)
    if lengths is None:
        out, h_n = layer(x_t, hx)
    else:
        steps = x.shape[1 if layer.batch_first else 0]
        packed = pack_padded_sequence(
            x_t, torch.from_numpy(lengths), layer.batch_first, enforce_sorted=False
        )
        out, h_n = layer(packed, hx)
        out = pad_packed_sequence(out, layer.batch_first, total_length=steps)[0]
    loss = (out * torch.from_numpy(grad_out)).sum()
    if grad_hn is not None:
        parts = h_n if isinstance(h_n, tuple) else (h_n,)
        grads = grad_hn if isinstance(grad_hn, tuple) else (grad_hn,)
        for part, grad in zip(parts, grads, strict=True):
            loss = loss + (part * torch.from_numpy(grad)).sum()
    loss.backward()
    return x_t.grad.numpy()


def short_check(call: LayerCall, seed: int) -> float:
    """Relative error of rnnref's input gradient against torch's on the first SHORT_STEPS steps.

    Both run in float64 with a seeded N(0, 1) gradient on the output.
    """
    time_axis = 1 if call.x.ndim == 3 and call.module.batch_first else 0
    steps = min(SHORT_STEPS, call.x.shape[time_axis])
    x = np.take(call.x, np.arange(steps), axis=time_axis)
    lengths = None if call.lengths is None else np.minimum(call.lengths, steps)
    model = rnnref.from_torch(call.module, dtype=np.float64).eval()
    out, _ = model(x, call.hx, lengths)
    grad_out = np.random.default_rng(seed).standard_normal(out.shape)
    if lengths is not None:
        valid = np.arange(steps)[:, None] < lengths[None, :]
        grad_out = grad_out * (valid.T if time_axis == 1 else valid)[..., None]
    ours = model.backward(grad_out).input
    theirs = torch_float64_grad(call.module, x, call.hx, lengths, grad_out, None)
    return rnnref.relative_error(ours, theirs)
