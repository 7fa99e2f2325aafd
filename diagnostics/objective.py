"""Turning the output of the user's model into a scalar loss.

How the model is called and which of its outputs the probes use (the first
floating-point tensor, depth first) is :mod:`usermodel.calling`'s, shared with
``bench model``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from usermodel.errors import UsageError, describe_exception


@dataclass
class Objective:
    """A scalar loss of the selected output.

    ``loss(output)`` returns a 0-d tensor; ``description`` says what it is;
    ``real``: it is the user's loss (--target), not a stand-in; ``broadcast``:
    the output and target shapes and the shape the loss broadcasts them to,
    when they differ (else None).
    """

    description: str
    loss: Callable[[torch.Tensor], torch.Tensor]
    real: bool = False
    broadcast: dict[str, list[int]] | None = None


def projection_objective(output: torch.Tensor, seed: int) -> Objective:
    """``sum(output * R) / sqrt(output.numel())`` with R ~ N(0, 1) drawn from ``seed``.

    A loss-free upstream gradient: dL/d(output) = R / sqrt(numel), norm about 1.
    """
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(output.shape, generator=generator, dtype=torch.float64)
    weights = (weights / output.numel() ** 0.5).to(output.device, output.dtype)

    def loss(out: torch.Tensor) -> torch.Tensor:
        return (out * weights).sum()

    return Objective("seeded random projection of the output (no --target given)", loss)


def random_target_objective(output: torch.Tensor, seed: int) -> Objective:
    """MSE against a fixed N(0, 1) target drawn from ``seed`` (training without --target)."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(output.shape, generator=generator).to(output.device, output.dtype)
    return Objective(
        "mse against a seeded random target (no --target given)",
        lambda out: F.mse_loss(out, target),
    )


def target_objective(target: torch.Tensor, kind: str, output: torch.Tensor) -> Objective:
    """The user's loss: ``mse`` or ``ce`` (cross entropy; class ids or probabilities).

    Raises:
        UsageError: the target does not fit the output for that loss.
    """
    target = target.to(output.device)
    broadcast = None
    if kind == "mse":
        if target.shape != output.shape:
            try:
                shape = torch.broadcast_shapes(output.shape, target.shape)
            except RuntimeError:
                raise UsageError(
                    f"--target of shape {tuple(target.shape)} does not match output of shape "
                    f"{tuple(output.shape)} for --loss mse"
                ) from None
            broadcast = {
                "output": list(output.shape),
                "target": list(target.shape),
                "broadcast": list(shape),
            }
        target = target.to(output.dtype)

        def loss(out: torch.Tensor) -> torch.Tensor:
            with warnings.catch_warnings():  # the broadcast is reported as a finding
                warnings.simplefilter("ignore", UserWarning)
                return F.mse_loss(out, target)

    else:
        classes_last = not target.is_floating_point() and output.dim() == target.dim() + 1

        def loss(out: torch.Tensor) -> torch.Tensor:
            if classes_last:
                return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))
            return F.cross_entropy(out, target.to(out.dtype))

    try:
        with torch.no_grad():
            value = loss(output.detach())
        if value.dim() != 0:
            raise ValueError(f"the loss has shape {tuple(value.shape)}, not a scalar")
    except Exception as exc:
        raise UsageError(
            f"--target of shape {tuple(target.shape)} does not fit output of shape "
            f"{tuple(output.shape)} for --loss {kind}: {describe_exception(exc)}"
        ) from exc
    return Objective(f"{kind} against --target", loss, real=True, broadcast=broadcast)
