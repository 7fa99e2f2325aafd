"""Where NaN or Inf first appear: module, layer, direction and time step, forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def first_step(values: np.ndarray | None, reverse: bool) -> int | None:
    """First step t (in processing order) whose (B, H) slice of (T, B, H) is not all finite."""
    if values is None:
        return None
    bad = ~np.all(np.isfinite(values.reshape(values.shape[0], -1)), axis=1)
    steps = np.flatnonzero(bad)
    if steps.size == 0:
        return None
    return int(steps[-1] if reverse else steps[0])


def layer_nonfinite(states: np.ndarray, grad_states: np.ndarray | None, reverse: bool) -> dict:
    """First non-finite step of h_t (forward order) and of dL/dh_t (backward order)."""
    return {
        "forward_step": first_step(states, reverse),
        "backward_step": first_step(grad_states, not reverse),
    }


def parameters_nonfinite(model: nn.Module) -> dict[str, Any]:
    """Parameters holding NaN/Inf values, and parameters whose gradient does."""

    def count(t: torch.Tensor) -> int:
        return int((~torch.isfinite(t.detach())).sum())

    weights = {n: count(p) for n, p in model.named_parameters() if count(p)}
    grads = {
        n: count(p.grad)
        for n, p in model.named_parameters()
        if p.grad is not None and count(p.grad)
    }
    return {"weights": weights, "grads": grads}
