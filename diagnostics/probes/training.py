"""``--steps N``: N real Adam steps on the probe input, with a clipping audit and loss spikes.

Clipping threshold: Pascanu, Mikolov and Bengio, ICML 2013, section 3.2: "a
good heuristic for setting this threshold is to look at statistics on the
average norm over a sufficiently large number of updates" (they report that
half to ten times that average still converged). The suggestion is the mean
of the observed global gradient norms; ``clip_fraction`` is how often a step
exceeded it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from diagnostics.objective import Objective
from diagnostics.probes.stats import num, nums
from usermodel.calling import run_model, select_output
from usermodel.errors import UsageError, describe_exception

SPIKE_FACTOR, SPIKE_WINDOW = 2.0, 5
"""A loss spike: a step whose loss exceeds SPIKE_FACTOR times the median of the previous
SPIKE_WINDOW losses (our heuristic; with at least 3 earlier steps and a positive median)."""

Progress = Callable[[int, int, float, float], None]
"""progress(step, steps, loss, grad_norm), called after each step."""


def trainable(model: nn.Module) -> list[torch.Tensor]:
    """The parameters an optimizer would update."""
    return [p for p in model.parameters() if p.requires_grad]


def loss_spikes(losses: list[float]) -> list[int]:
    """Steps whose loss jumps above SPIKE_FACTOR x the median of the previous SPIKE_WINDOW."""
    spikes = []
    for step in range(3, len(losses)):
        median = float(np.median(losses[max(0, step - SPIKE_WINDOW) : step]))
        if median > 0 and losses[step] > SPIKE_FACTOR * median:
            spikes.append(step)
    return spikes


def train(
    model: nn.Module,
    x: torch.Tensor,
    make_objective: Callable[[torch.Tensor], Objective],
    steps: int,
    lr: float,
    progress: Progress,
    kept_states: Sequence[str] = (),
) -> dict[str, Any]:
    """Run up to ``steps`` Adam steps in training mode; stop at the first non-finite loss/norm.

    Ctrl-C stops early and keeps the steps done. Returns losses and global
    gradient norms (before the step) per step, the objective, the suggested
    clipping threshold, the fraction of steps above it and loss spikes.

    The model must have a :func:`trainable` parameter (the pipeline checks that
    before any work). ``kept_states``: the attributes that keep a recurrent state
    with its graph between calls (named when backward runs into an earlier graph).

    Raises:
        UsageError: the model raised while training.
    """
    params = trainable(model)
    optimizer = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    norms: list[float] = []
    objective = None
    interrupted = False
    model.train()
    try:
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            output, _ = select_output(run_model(model, x.clone()))  # the model may edit x
            objective = objective or make_objective(output.detach())
            loss = objective.loss(output)
            try:
                loss.backward()
            except Exception as exc:
                if "backward through the graph a second time" in str(exc):
                    where = ", ".join(kept_states) or "a tensor kept between calls"
                    raise UsageError(
                        f"backward at training step {step} ran into the previous batch's graph: "
                        f"the hidden state kept between batches ({where}) needs .detach()"
                    ) from exc
                raise UsageError(
                    f"backward at training step {step} failed: {describe_exception(exc)}"
                ) from exc
            grads = [p.grad for p in params if p.grad is not None]
            norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
            losses.append(float(loss.detach()))
            norms.append(norm)
            progress(step, steps, losses[-1], norm)
            if not (math.isfinite(losses[-1]) and math.isfinite(norm)):
                break
            optimizer.step()
    except KeyboardInterrupt:
        interrupted = True
    return summarize(losses, norms, objective, lr, steps, interrupted)


def summarize(
    losses: list[float],
    norms: list[float],
    objective: Objective | None,
    lr: float,
    steps: int,
    interrupted: bool,
) -> dict[str, Any]:
    """The training record: curves, clipping audit and spikes (JSON-ready)."""
    finite = np.array([n for n in norms if math.isfinite(n)])
    suggested = float(finite.mean()) if finite.size else None
    median = float(np.median(finite)) if finite.size else 0.0
    bad = [
        step
        for step, (loss, norm) in enumerate(zip(losses, norms, strict=True))
        if not (math.isfinite(loss) and math.isfinite(norm))
    ]
    return {
        "objective": objective.description if objective else None,
        "lr": lr,
        "steps_requested": steps,
        "steps_done": len(losses),
        "interrupted": interrupted,
        "losses": nums(losses),
        "grad_norms": nums(norms),
        "suggested_clip": num(suggested),
        "clip_fraction": num(np.mean(finite > suggested)) if finite.size else None,
        "max_over_median_norm": num(finite.max() / median) if median > 0 else None,
        "loss_spikes": loss_spikes([loss for loss in losses if math.isfinite(loss)]),
        "first_nonfinite_step": bad[0] if bad else None,
    }
