"""The error measure every comparison uses, and a finite-difference gradient check."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnref.layers import RNNBase


def relative_error(actual: Any, expected: Any) -> float:
    """max |actual - expected| / max |expected| over all elements (absolute if expected is 0).

    Scaled by the largest reference value rather than element-wise, so entries
    near zero do not inflate it. Both arguments are array-likes of one shape.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"relative_error: shapes differ, {actual.shape} vs {expected.shape}")
    if actual.size == 0:
        return 0.0
    scale = np.max(np.abs(expected))
    diff = np.max(np.abs(actual - expected))
    return float(diff / scale) if scale > 0 else float(diff)


def gradcheck(
    model: RNNBase,
    x: np.ndarray,
    hx: Any = None,
    lengths: Any = None,
    *,
    samples: int = 8,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Compare ``model.backward`` with central finite differences, in float64.

    The loss is a fixed random projection of ``out`` and ``h_n``. For every
    parameter, the input and each part of hx, ``samples`` random entries are
    perturbed by +-eps. Returns the relative error per name (``"input"``,
    ``"hx"``/``"hx[0]"``/``"hx[1]"``, parameter names): max |numeric - analytic|
    over the sampled entries divided by the largest analytic gradient entry.
    Inter-layer dropout masks are held fixed across the evaluations.
    """
    if model.dtype != np.float64:
        raise ValueError(f"gradcheck: needs a float64 model, got {model.dtype}")
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    if isinstance(hx, tuple):  # an LSTM's (h0, c0)
        hx = tuple(np.array(part, dtype=np.float64) for part in hx)
    elif hx is not None:
        hx = np.array(hx, dtype=np.float64)

    out, h_n = model(x, hx, lengths)
    masks = model.dropout_masks
    weight_out = rng.standard_normal(out.shape)
    weight_state = (
        tuple(rng.standard_normal(part.shape) for part in h_n)
        if isinstance(h_n, tuple)
        else rng.standard_normal(h_n.shape)
    )
    analytic = model.backward(weight_out, weight_state)

    def loss() -> float:
        out, h_n = model(x, hx, lengths, dropout_masks=masks)
        parts = (
            zip(h_n, weight_state, strict=True) if isinstance(h_n, tuple) else [(h_n, weight_state)]
        )
        return float(np.sum(out * weight_out) + sum(np.sum(h * w) for h, w in parts))

    checked = {name: (model.params[name], grad) for name, grad in analytic.params.items()}
    checked["input"] = (x, analytic.input)
    if isinstance(hx, tuple):
        checked["hx[0]"], checked["hx[1]"] = (hx[0], analytic.hx[0]), (hx[1], analytic.hx[1])
    elif hx is not None:
        checked["hx"] = (hx, analytic.hx)

    errors = {}
    for name, (values, grad) in checked.items():
        flat = values.reshape(-1)  # a view: perturbing it perturbs what the model reads
        worst = 0.0
        for index in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            original = flat[index]
            flat[index] = original + eps
            upper = loss()
            flat[index] = original - eps
            lower = loss()
            flat[index] = original
            numeric = (upper - lower) / (2 * eps)
            worst = max(worst, abs(numeric - grad.reshape(-1)[index]))
        scale = np.max(np.abs(grad))
        errors[name] = worst / scale if scale > 0 else worst
    return errors
