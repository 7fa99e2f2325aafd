"""A row's workload: the timed call, its outputs to check, what ran (:class:`Runner`).

Like the ``ModelDef`` of PyTorch's benchmarks/fastrnns: backends and deployment paths
(:mod:`bench.paths`) differ only in how they make a :class:`Runner`; the harness
checks, times (:mod:`usermodel.timing`) and records all of them alike.
:func:`torch_runner` makes one for a matrix case's layer; :func:`bench.model.model_runner`
for the user's model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bench.problem import Outputs, Problem, named_outputs


@dataclass
class Runner:
    """A built case, ready to check and time.

    ``step()`` is the timed call: the forward (under no_grad) in inference, forward +
    backward in training, on the case's fixed inputs. ``outputs()`` returns the results
    of the last ``step()`` as float64 arrays named like :attr:`Problem.reference`.
    ``module`` names the type of what really ran; ``numerics`` picks the error bound
    (see bench.check.BOUNDS); ``extra`` adds backend facts to the row (e.g. ``tf32``,
    ``compile_s``).
    """

    step: Callable[[], Any]
    outputs: Callable[[], Outputs]
    module: str
    dtype: str = "float32"
    device: str = "cpu"
    numerics: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def torch_runner(
    forward: Callable[[torch.Tensor, torch.Tensor | None], list[torch.Tensor]],
    params: dict[str, torch.nn.Parameter],
    problem: Problem,
    module: str,
    device: str = "cpu",
    dtype: str = "float32",
    numerics: str = "fp32",
    cast: torch.dtype = torch.float32,
) -> Runner:
    """A :class:`Runner` around ``forward(x, lengths) -> [out, h_n(, c_n)]``.

    ``cast``: the dtype the input and the output gradient are given in (bfloat16 for a
    bfloat16 layer); outputs and gradients come back as float64 whatever it is.

    ``params`` maps torch's parameter names (``weight_hh_l0``, ...) to the Parameters
    ``forward`` uses, so training gradients can be checked under those names. On CUDA
    the call is synchronized before it returns, so the timer sees the whole kernel work.
    """
    training = problem.case.mode == "training"
    x = torch.from_numpy(problem.x).to(device, cast)
    lengths = None if problem.run_lengths is None else torch.from_numpy(problem.run_lengths)
    grad_out = torch.from_numpy(problem.grad_out).to(device, cast)
    x.requires_grad_(training)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    last: list[list[torch.Tensor]] = []

    def step() -> list[torch.Tensor]:
        if training:
            for p in params.values():
                p.grad = None
            x.grad = None
            result = forward(x, lengths)
            result[0].backward(grad_out)
        else:
            with torch.no_grad():
                result = forward(x, lengths)
        sync()
        last[:] = [result]
        return result

    def outputs() -> Outputs:
        (result,) = last
        results = [_numpy(t) for t in result]
        if not training:
            return named_outputs(results)
        grads = {name: _numpy(p.grad) for name, p in params.items()}
        return named_outputs(results, _numpy(x.grad), grads)

    return Runner(step, outputs, module, dtype=dtype, device=device, numerics=numerics)
