"""What a run measures on: library versions, BLAS, threads, GPU (for the run file header)."""

from __future__ import annotations

import os
import platform

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits


def pin_threads(threads: int) -> None:
    """Fix torch's intra-op threads and every BLAS / OpenMP pool to ``threads``.

    Called once at the start of a run; the limits stay for the whole process.
    """
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


def blas_description() -> str:
    """NumPy's BLAS, e.g. ``openblas 0.3.27 (pthreads, SkylakeX, 2 threads)``."""
    numpy_libs = [
        lib
        for lib in threadpool_info()
        if lib["user_api"] == "blas" and "numpy" in lib.get("filepath", "")
    ] or [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    if not numpy_libs:
        return "unknown"
    lib = numpy_libs[0]
    details = [lib.get("threading_layer"), lib.get("architecture"), f"{lib['num_threads']} threads"]
    return f"{lib['internal_api']} {lib.get('version')} ({', '.join(d for d in details if d)})"


def versions() -> dict[str, str | None]:
    """Library versions: torch, numpy, BLAS, CUDA, cuDNN (None where absent), and more."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "BLAS": blas_description(),
        "CUDA": torch.version.cuda,
        "cuDNN": str(cudnn) if cudnn else None,
        "oneDNN": str(torch.backends.mkldnn.is_available()),
        "quantized engine": torch.backends.quantized.engine,
    }


def gpu_name() -> str | None:
    """The first CUDA device's name, or None without one."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


BUSY = "the machine was busy"
"""How a busy-machine warning starts (in the run file's noise_warnings)."""


def busy_warning(load_average: float, own_threads: int, when: str) -> str | None:
    """A warning when other processes kept the CPUs busy, from the 1-minute load average.

    ``own_threads``: how much of the load is this run's own (0 before it starts working);
    ``when``: e.g. "at the start".
    Warns when the rest is at least half the CPUs: timings then include waiting for them.
    """
    cpus = os.cpu_count() or 1
    others = load_average - own_threads
    if others < 0.5 * cpus:
        return None
    own = f", {own_threads} of it this run's threads" if own_threads else ""
    return (
        f"{BUSY} {when}: 1-minute load average {load_average:.1f} on {cpus} CPUs{own}; "
        "timings may include waiting for other processes"
    )
