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
from threadpoolctl import threadpool_limits

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


CLOSED_FORM = ("rnn_tanh", "rnn_relu", "gru", "lstm")
"""The cell types :func:`step_jacobians` differentiates by hand (rnnref.CELL_TYPES names)."""


def step_jacobians(
    model: rnnref.RNNBase,
    trace: rnnref.LayerTrace,
    layer: int,
    direction: int,
    steps: np.ndarray,
    seqs: np.ndarray,
) -> np.ndarray:
    """d s_t / d s_{t-1} at the valid (t, b) pairs given, (N, S, S) float64, s = h (S = P) or
    cat(h, c) for an LSTM (S = P + H), rows s_t, columns s_{t-1}.

    In closed form from the gate activations the forward recorded (the chain rule through
    the cell's equations, torch's gate order) instead of differentiating the step again;
    a float32 replay's activations are widened to float64 (exactly). The torch step
    function of the tests differentiates to the same matrices.
    """
    sfx = rnnref.param_suffix(layer, direction)
    w_hh = model.params["weight_hh" + sfx].astype(np.float64)
    gates = {name: gate[steps, seqs].astype(np.float64) for name, gate in trace.gates.items()}
    kind = model.cell_type.name
    if kind not in CLOSED_FORM:
        raise ValueError(f"no closed-form step Jacobian for cell type {kind!r}")
    if kind.startswith("rnn"):
        h = trace.states[steps, seqs].astype(np.float64)
        slope = 1.0 - h * h if kind == "rnn_tanh" else (h > 0).astype(np.float64)
        return slope[:, :, None] * w_hh
    prev = previous_states(trace, bool(direction), steps, seqs).astype(np.float64)
    if kind == "gru":
        w_r, w_z, w_n = np.split(w_hh, 3)
        r, z, n = gates["r"], gates["z"], gates["n"]
        b_hh = model.params.get("bias_hh" + sfx)
        hidden_n = prev @ w_n.T + (0.0 if b_hh is None else np.split(b_hh, 3)[2])
        d_r = (r * (1 - r))[:, :, None] * w_r
        d_z = (z * (1 - z))[:, :, None] * w_z
        d_n = (1 - n * n)[:, :, None] * (r[:, :, None] * w_n + hidden_n[:, :, None] * d_r)
        jac = (1 - z)[:, :, None] * d_n + (prev - n)[:, :, None] * d_z
        jac[:, np.arange(jac.shape[1]), np.arange(jac.shape[1])] += z
        return jac
    size = model.output_size
    i, f, g, o = gates["i"], gates["f"], gates["g"], gates["o"]
    w_i, w_f, w_g, w_o = np.split(w_hh, 4)
    prev_c = prev[:, size:]
    tanh_c = np.tanh(trace.cells[steps, seqs].astype(np.float64))
    # c_t = f c_{t-1} + i g;  m_t = o tanh(c_t);  h_t = m_t, or W_hr m_t with a projection
    dc_dh = (
        (prev_c * f * (1 - f))[:, :, None] * w_f
        + (g * i * (1 - i))[:, :, None] * w_i
        + (i * (1 - g * g))[:, :, None] * w_g
    )
    through_c = o * (1 - tanh_c * tanh_c)
    dm_dh = (tanh_c * o * (1 - o))[:, :, None] * w_o + through_c[:, :, None] * dc_dh
    dm_dc = np.zeros((len(steps), f.shape[1], f.shape[1]))
    dm_dc[:, np.arange(f.shape[1]), np.arange(f.shape[1])] = through_c * f
    dc_dc = np.zeros_like(dm_dc)
    dc_dc[:, np.arange(f.shape[1]), np.arange(f.shape[1])] = f
    w_hr = model.params.get("weight_hr" + sfx)
    if w_hr is not None:
        dm_dh, dm_dc = w_hr.astype(np.float64) @ dm_dh, w_hr.astype(np.float64) @ dm_dc
    return np.concatenate(
        [np.concatenate([dm_dh, dm_dc], axis=2), np.concatenate([dc_dh, dc_dc], axis=2)], axis=1
    )


LANCZOS_TOL = 1e-10
"""Relative residual bound at which :func:`spectral_norms` stops: the largest eigenvalue of
J^T J it returns is then within that fraction of an eigenvalue of J^T J."""


INVARIANT = 1e-10
"""What is left of J^T J q after its projections on the basis, relative to J^T J q, below
which the Krylov space is taken as invariant (the rest is round-off: normalizing it would
add a vector that is not orthogonal to the basis)."""


CHECK_EVERY = 4
"""Lanczos steps between two convergence checks (each an eigendecomposition of the
tridiagonal matrix so far)."""


def spectral_norms(matrices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """||J||_2 of each of the (N, S, S) finite ``matrices``, (N,) float64, by the Lanczos
    iteration on J^T J (products with J and J^T only, never J^T J itself), fully
    reorthogonalized, from a random start drawn with ``rng``.

    The iteration stops when every matrix's top Ritz value is within LANCZOS_TOL of an
    eigenvalue (its residual bound |beta_k y_k|), or after S steps, where the Krylov space
    is the whole space and the value exact. From a random start that eigenvalue is the
    largest with probability 1. Each step costs O(S^2) per matrix, against the O(S^3) of
    forming J^T J and its eigendecomposition: the four S = 512 Jacobians of a 2-layer
    LSTM with hidden size 256 took about 56 steps, 25-29 ms against 62 ms (one thread).
    """
    count, size = matrices.shape[:2]
    transposed = matrices.transpose(0, 2, 1)
    basis = np.zeros((count, size, size))
    alpha, beta = np.zeros((count, size)), np.zeros((count, size))
    q = rng.standard_normal((count, size))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    top = np.zeros(count)
    for k in range(size):
        basis[:, k] = q
        w = (transposed @ (matrices @ q[:, :, None]))[:, :, 0]
        alpha[:, k] = np.einsum("ns,ns->n", q, w)
        product_norm = np.linalg.norm(w, axis=1)
        for _ in range(2):  # classical Gram-Schmidt twice against every basis vector so far
            w -= np.einsum(
                "nks,nk->ns", basis[:, : k + 1], np.einsum("nks,ns->nk", basis[:, : k + 1], w)
            )
        beta[:, k] = np.linalg.norm(w, axis=1)
        # a sample whose Krylov space is invariant (what is left of J^T J q after the
        # projections is round-off) goes on with q = 0: its tridiagonal matrix grows by
        # zero rows and its top Ritz value stays what it is, exact
        exhausted = beta[:, k] <= INVARIANT * product_norm
        q = np.where(exhausted[:, None], 0.0, w / np.where(exhausted, 1.0, beta[:, k])[:, None])
        if k % CHECK_EVERY and k < size - 1:
            continue
        tridiagonal = np.zeros((count, k + 1, k + 1))
        steps = np.arange(k + 1)
        tridiagonal[:, steps, steps] = alpha[:, : k + 1]
        tridiagonal[:, steps[1:], steps[:-1]] = beta[:, :k]
        tridiagonal[:, steps[:-1], steps[1:]] = beta[:, :k]
        ritz, vectors = np.linalg.eigh(tridiagonal)
        top = ritz[:, -1]
        residual = np.abs(beta[:, k] * vectors[:, -1, -1])
        if np.all(residual <= LANCZOS_TOL * np.maximum(top, np.finfo(float).tiny)):
            break
    return np.sqrt(np.maximum(top, 0.0))


def step_jacobian_norms(
    model: rnnref.RNNBase, trace: rnnref.LayerTrace, layer: int, direction: int, seed: int
) -> dict[str, Any]:
    """Spectral norms of d s_t / d s_{t-1} (:func:`step_jacobians`) at up to JACOBIAN_SAMPLES
    valid (t, b) pairs drawn with the seed, by :func:`spectral_norms` (exact to LANCZOS_TOL).

    Returns mean, max and the number of samples (None values if the trajectory
    or the Jacobians are not finite).
    """
    valid = np.ones(trace.states.shape[:2], bool) if trace.mask is None else trace.mask
    pairs = np.argwhere(valid)
    size = trace.states.shape[-1] + (0 if trace.cells is None else trace.cells.shape[-1])
    samples = min(JACOBIAN_SAMPLES, max(4, JACOBIAN_BUDGET // size**3), len(pairs))
    rng = np.random.default_rng(seed)
    pairs = pairs[rng.choice(len(pairs), samples, replace=False)]
    with np.errstate(all="ignore"):
        jac = step_jacobians(model, trace, layer, direction, pairs[:, 0], pairs[:, 1])
    if not np.all(np.isfinite(jac)):
        return {"mean": None, "max": None, "samples": 0}
    with threadpool_limits(limits=1), np.errstate(all="ignore"):  # small problems: one thread
        norms = spectral_norms(jac, rng)
    if not np.all(np.isfinite(norms)):
        return {"mean": None, "max": None, "samples": 0}
    return {"mean": num(norms.mean()), "max": num(norms.max()), "samples": int(norms.size)}
