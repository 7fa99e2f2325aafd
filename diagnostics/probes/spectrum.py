"""The recurrent spectrum: singular values of W_hh per gate block, and step Jacobians.

Pascanu, Mikolov and Bengio, "On the difficulty of training recurrent neural
networks", ICML 2013, section 2.1: for h_t = W_rec sigma(h_{t-1}) + ... with
||diag(sigma'(x))|| <= gamma, a largest singular value lambda_1 < 1 / gamma of
W_rec is *sufficient* for the gradient to vanish, and lambda_1 > 1 / gamma is
*necessary* for it to explode. gamma = 1 for tanh (and for ReLU, whose slope
is at most 1), gamma = 1/4 for the logistic sigmoid. The theorem is exact for
a plain RNN; for the gate blocks of an LSTM or GRU the same number is shown as
an indication only. The mean spectral norm of the real step Jacobians
d s_t / d s_{t-1} (s = h, or (h, c) for an LSTM) along the recorded
trajectory measures what the bound only limits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.func import jacrev, vmap

import rnnref
from diagnostics.probes.stats import num, nums
from rnnref.cells import cell_type

GAMMA = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25}
"""Upper bound of the activation's derivative (Pascanu et al. 2013, section 2.1)."""

JACOBIAN_SAMPLES = 32
"""Most (step, sequence) pairs at which the step Jacobian is evaluated, drawn with the seed."""

JACOBIAN_BUDGET = 32 * 128**3
"""Work allowed for the exact norms (samples x S^3): all 32 samples up to a state size S
of 128, fewer (at least 4) above, e.g. 4 for an LSTM with hidden size 256 (S = 512)."""

TOP_SINGULAR_VALUES = 16
"""How many of the largest singular values per block are kept for the report."""


def recurrent_spectrum(w_hh: np.ndarray, kind: str) -> dict[str, Any]:
    """Largest singular values of each gate block of W_hh (G*H, P) against 1 / gamma; the
    blocks, in torch's order, and their activations are the cell type ``kind``'s
    (rnnref.CELL_TYPES)."""
    blocks = {}
    if not np.all(np.isfinite(w_hh)):
        return {"finite": False, "blocks": {}}
    cell_blocks = cell_type(kind).blocks
    for block, rows in zip(cell_blocks, np.split(w_hh, len(cell_blocks)), strict=True):
        values = np.linalg.svd(rows, compute_uv=False)
        bound = 1.0 / GAMMA[block.activation]
        blocks[block.name] = {
            "activation": block.activation,
            "sigma_max": num(values[0]),
            "bound": bound,
            "below_bound": bool(values[0] < bound),
            "top": nums(values[:TOP_SINGULAR_VALUES]),
        }
    return {"finite": True, "blocks": blocks}


def _step_function(model: rnnref.RNNBase, layer: int, direction: int) -> Any:
    """s_{t-1}, xp_t -> s_t for one sample, in torch float64 (s = h, or cat(h, c) for LSTM):
    rnnref's step (:mod:`rnnref.steps`) run on torch tensors, so autograd differentiates it.

    xp_t is the input part of the pre-activations: W_ih x_t + b_ih.
    A float32 replay's parameters are widened to float64 (exactly).
    """
    p = {k: torch.from_numpy(v.astype(np.float64)) for k, v in model.params.items()}
    sfx = rnnref.param_suffix(layer, direction)
    w_hh, b_hh, w_hr = p["weight_hh" + sfx], p.get("bias_hh" + sfx), p.get("weight_hr" + sfx)
    cell, size = model.cell_type, model.output_size

    def step(s: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        h, c = s[:size], (s[size:] if cell.cell_state else None)
        hp = w_hh @ h if b_hh is None else w_hh @ h + b_hh
        new = cell.step(torch, xp, hp, h, c)
        h_new = new.h if w_hr is None else w_hr @ new.h
        return h_new if new.c is None else torch.cat([h_new, new.c])

    return step


def input_projection(
    model: rnnref.RNNBase, inputs: np.ndarray, layer: int, direction: int
) -> np.ndarray:
    """xp as :func:`_step_function` takes it, for layer inputs (..., I) -> (..., G*H)."""
    p, sfx = model.params, rnnref.param_suffix(layer, direction)
    xp = inputs @ p["weight_ih" + sfx].T
    return xp + p["bias_ih" + sfx] if model.bias else xp


def previous_states(
    trace: rnnref.LayerTrace, reverse: bool, steps: np.ndarray, seqs: np.ndarray
) -> np.ndarray:
    """s_{t-1} in processing order at the (t, b) pairs given: (N, S), S = P, or P + H (LSTM)."""
    before = steps + 1 if reverse else steps - 1
    first = ((before < 0) | (before >= trace.states.shape[0]))[:, None]
    at = np.clip(before, 0, trace.states.shape[0] - 1)
    prev = np.where(first, trace.h0[seqs], trace.states[at, seqs])
    if trace.cells is None:
        return prev
    prev_c = np.where(first, trace.c0[seqs], trace.cells[at, seqs])
    return np.concatenate([prev, prev_c], axis=-1)


def step_jacobian_norms(
    model: rnnref.RNNBase, trace: rnnref.LayerTrace, layer: int, direction: int, seed: int
) -> dict[str, Any]:
    """Spectral norms of d s_t / d s_{t-1} at up to JACOBIAN_SAMPLES valid (t, b) pairs.

    Returns mean, max and the number of samples (None values if the trajectory
    or the Jacobians are not finite).
    """
    valid = np.ones(trace.states.shape[:2], bool) if trace.mask is None else trace.mask
    pairs = np.argwhere(valid)
    size = trace.states.shape[-1] + (0 if trace.cells is None else trace.cells.shape[-1])
    samples = min(JACOBIAN_SAMPLES, max(4, JACOBIAN_BUDGET // size**3), len(pairs))
    rng = np.random.default_rng(seed)
    pairs = pairs[rng.choice(len(pairs), samples, replace=False)]
    steps, seqs = pairs[:, 0], pairs[:, 1]
    prev = previous_states(trace, bool(direction), steps, seqs)
    prev = prev.astype(np.float64)
    xp = input_projection(model, trace.inputs[steps, seqs].astype(np.float64), layer, direction)
    if not (np.all(np.isfinite(prev)) and np.all(np.isfinite(xp))):
        return {"mean": None, "max": None, "samples": 0}
    step = _step_function(model, layer, direction)
    jac = vmap(jacrev(step))(torch.from_numpy(prev), torch.from_numpy(xp)).numpy()
    with threadpool_limits(limits=1):  # many small problems: threads only add overhead
        gram = jac.transpose(0, 2, 1) @ jac  # ||J||_2^2 = largest eigenvalue of J^T J
        if not np.all(np.isfinite(gram)):
            return {"mean": None, "max": None, "samples": 0}
        norms = np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))
    return {"mean": num(norms.mean()), "max": num(norms.max()), "samples": int(norms.size)}
