"""The record every backend builds for a case: the timed call, its outputs, what ran.

Like the ``ModelDef`` of PyTorch's benchmarks/fastrnns: backends differ only in how
they make a :class:`Runner`; the harness checks, times and records all of them alike.
"""

from __future__ import annotations

import time
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


SETTLE_S = 0.2
"""Pause before timing calls on other worker threads than the calls just before.

OpenBLAS's threads spin for about 0.1 s after NumPy's last GEMM before they sleep; torch's
threads, started meanwhile, share the cores with them: the first 0.1 s of torch calls
right after NumPy ran 1.5-2.5x slower on a 2-core machine."""


def warm_up(step: Callable[[], Any], min_calls: int = 2, seconds: float = 0.1) -> list[float]:
    """Call ``step`` at least ``min_calls`` times and until ``seconds`` passed (at most 100);
    returns the duration of each call in seconds.

    Thread pools wake up, TorchScript's profiling executor optimizes, caches fill: the
    first calls can be many times slower than the steady state that is timed.
    """
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(durations) < min_calls or (time.perf_counter() < deadline and len(durations) < 100):
        start = time.perf_counter()
        step()
        durations.append(time.perf_counter() - start)
    return durations


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
