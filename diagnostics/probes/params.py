"""Whole-model probe: gradient norm, weight norm and their ratio per parameter."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from diagnostics.probes.stats import histogram, num


def parameter_norms(model: nn.Module, grad_scale: float = 1.0) -> dict[str, Any]:
    """Per parameter (after a backward): shape, weight norm, grad norm, ratio, grad histogram.

    grad_scale: the factor the gradients carry (a GradScaler's scale), divided out.
    Returns {"parameters": [...], "global_grad_norm": float or None}; a parameter
    that received no gradient has grad_norm None. ``requires_grad`` is False for a
    frozen parameter; ``grad_reached`` is False when its gradient is None or exactly
    zero everywhere (the loss does not reach it; NaN counts as reached).
    """
    rows, total = [], 0.0
    for name, param in model.named_parameters():
        weight = param.detach().double()
        grad = None if param.grad is None else param.grad.detach().double() / grad_scale
        w_norm = float(torch.linalg.vector_norm(weight))
        g_norm = None if grad is None else float(torch.linalg.vector_norm(grad))
        if g_norm is not None:
            total += g_norm**2
        ratio = None
        if g_norm is not None and w_norm > 0:
            ratio = g_norm / w_norm
        rows.append(
            {
                "name": name,
                "shape": list(param.shape),
                "requires_grad": param.requires_grad,
                "grad_reached": grad is not None and bool(torch.any(grad != 0)),
                "weight_norm": num(w_norm),
                "grad_norm": num(g_norm),
                "ratio": num(ratio),
                "grad_histogram": None if grad is None else _grad_histogram(grad),
            }
        )
    return {"parameters": rows, "global_grad_norm": num(math.sqrt(total))}


def _grad_histogram(grad: torch.Tensor) -> dict[str, Any]:
    """Histogram of a gradient's entries over [-max|g|, max|g|] (finite entries; [-1, 1] if 0)."""
    values = grad.cpu().numpy()
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 0.0
    bound = bound if bound > 0 else 1.0
    return histogram(values, -bound, bound)
