"""Calling the user's model and turning its output into a scalar loss.

Models are written many ways: ``forward(x)`` or ``forward(x, state=None)`` or
``forward(x, state)`` (called with ``None`` for the state), returning a
tensor, a tuple ``(output, state)``, a list or a dict. The probes use the
first floating-point tensor of the output (depth first) and say which.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from usermodel.errors import UsageError, describe_exception


def extra_arguments(model: nn.Module) -> int:
    """How many required positional arguments ``forward`` takes after the input."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 0
    required = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return max(len(required) - 1, 0)


def call_description(model: nn.Module) -> str:
    """How the model is called, e.g. ``model(x)`` or ``model(x, None)``."""
    return "model(x" + ", None" * extra_arguments(model) + ")"


def run_model(model: nn.Module, x: torch.Tensor) -> Any:
    """``model(x)``, with ``None`` for each further required argument (the initial state).

    Raises:
        UsageError: the model raised; the message names the user's line.
    """
    try:
        return model(x, *([None] * extra_arguments(model)))
    except Exception as exc:
        raise UsageError(
            f"running {call_description(model)} failed: {describe_exception(exc)}"
        ) from exc


def first_float_tensor(output: Any, path: str = "output") -> tuple[torch.Tensor, str] | None:
    """The first floating tensor in ``output`` (depth first) and its path, e.g. ``output[0]``."""
    if isinstance(output, PackedSequence):
        output = output.data
        path = f"{path}.data"
    if isinstance(output, torch.Tensor):
        return (output, path) if output.is_floating_point() else None
    if isinstance(output, Mapping):
        items = [(f"{path}[{key!r}]", value) for key, value in output.items()]
    elif isinstance(output, tuple | list):
        items = [(f"{path}[{i}]", value) for i, value in enumerate(output)]
    else:
        return None
    for sub_path, value in items:
        found = first_float_tensor(value, sub_path)
        if found is not None:
            return found
    return None


def select_output(output: Any) -> tuple[torch.Tensor, str]:
    """The tensor the objective is computed on and a description like ``output[0] (32, 10)``.

    Raises:
        UsageError: the output holds no floating-point tensor.
    """
    found = first_float_tensor(output)
    if found is None:
        raise UsageError(
            f"the model returned {type(output).__name__} with no floating-point tensor in it"
        )
    tensor, path = found
    return tensor, f"{path} {tuple(tensor.shape)}"


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
