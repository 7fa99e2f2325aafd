"""The machine's GEMM peak, measured at the start of a run (the 100% of ``pct_peak``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from usermodel.timing import warm_up


def _best_rate(matmul: Callable[[], object], flops: float, seconds: float) -> float:
    """Best GFLOP/s over calls timed for ``seconds`` (at least 5, after one untimed call)
    by the suite's timer (:func:`usermodel.timing.warm_up`'s durations).

    The best call, not the median: the peak is what the machine can do, and on a shared
    machine most calls lose time slices to other processes.
    """
    matmul()
    return flops / min(warm_up(matmul, min_calls=5, seconds=seconds)) / 1e9


PEAK_S = 0.5
"""The most seconds each library's GEMM is timed for (a run times it as long as its preset
times a row, up to this: the smoke preset's 0.02 s still holds 5 calls)."""


def measure_peak(size: int = 1024, seconds: float = PEAK_S) -> dict[str, float]:
    """float32 GEMM GFLOP/s of a (size x size) @ (size x size) product per library, each
    timed for ``seconds`` (at least 5 calls).

    Keys: ``numpy`` (NumPy's BLAS), ``torch`` (torch on the CPU), ``cuda`` (torch on
    the GPU, when there is one), and ``cpu`` = the best CPU figure.
    """
    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    peaks = {"numpy": _best_rate(lambda: np.matmul(a, b, out=out), flops, seconds)}
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tout = torch.empty_like(ta)
    peaks["torch"] = _best_rate(lambda: torch.mm(ta, tb, out=tout), flops, seconds)
    peaks["cpu"] = max(peaks["numpy"], peaks["torch"])
    if torch.cuda.is_available():
        big = 4 * size
        ga = torch.randn(big, big, device="cuda")
        gb = torch.randn(big, big, device="cuda")

        def cuda_mm() -> None:
            torch.mm(ga, gb)
            torch.cuda.synchronize()

        peaks["cuda"] = _best_rate(cuda_mm, 2.0 * big**3, seconds)
    return {k: round(v, 2) for k, v in peaks.items()}
