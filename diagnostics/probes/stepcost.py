"""What makes a CPU training step slow for a reason the user can switch off.

- :func:`runtime_settings`: the settings every step runs with: torch's thread count
  against the cores this process may use, autograd's anomaly detection, and whether the
  calling thread flushes subnormal floats to zero.
- :func:`flush_denormal_speedup`: the cure for subnormal gradients measured on the
  user's own layer and batch: the captured call (input, initial state, upstream
  gradient) run forward and backward on a copy of the layer as the step runs it, and
  again with ``torch.set_flush_denormal(True)`` at one thread (the flag holds for the
  calling thread only, so one thread flushes all of the work). The user's module, its
  gradients, torch's random state, the flag and the thread count are left as they were.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from diagnostics.capture import LayerCall
from usermodel.timing import time_calls


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def flushes_subnormals() -> bool:
    """True when the calling thread flushes subnormal floats to zero (torch has no getter:
    a product that is subnormal in float32 comes out zero)."""
    tiny = torch.tensor([1e-30], dtype=torch.float32) * torch.tensor([1e-10])
    return bool(tiny.item() == 0.0)


def runtime_settings() -> dict[str, Any]:
    """threads (torch.get_num_threads()), cores (:func:`usable_cores`), anomaly_detection
    (torch.is_anomaly_enabled()) and flush_denormal (:func:`flushes_subnormals`)."""
    return {
        "threads": torch.get_num_threads(),
        "cores": usable_cores(),
        "anomaly_detection": torch.is_anomaly_enabled(),
        "flush_denormal": flushes_subnormals(),
    }


def _tensor(value: Any, dtype: torch.dtype) -> Any:
    """A captured array (or tuple of arrays, or None) as tensors of ``dtype``."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(torch.from_numpy(np.asarray(part)).to(dtype) for part in value)
    return torch.from_numpy(np.asarray(value)).to(dtype)


def _layer_pass(call: LayerCall) -> Any:
    """A function running the captured call forward and backward on a copy of the layer.

    The loss is sum(out * grad_out) (+ sum(h_n * grad_hn)), whose backward is the one the
    user's loss drove through the layer; the copy's gradients are its own.
    """
    layer = copy.deepcopy(call.module).to("cpu")
    dtype = next(layer.parameters()).dtype
    x = _tensor(call.x, dtype).requires_grad_()
    hx = _tensor(call.hx, dtype)
    grad_out = _tensor(call.grad_out, dtype)
    grad_hn = _tensor(call.grad_hn, dtype)
    lengths = None if call.lengths is None else torch.from_numpy(np.asarray(call.lengths))

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        if lengths is None:
            out, h_n = layer(x, hx)
        else:
            packed = pack_padded_sequence(x, lengths, layer.batch_first, enforce_sorted=False)
            out, h_n = layer(packed, hx)
            out = pad_packed_sequence(
                out, layer.batch_first, total_length=x.shape[1 if layer.batch_first else 0]
            )[0]
        loss = (out * grad_out).sum()
        if grad_hn is not None:
            parts = h_n if isinstance(h_n, tuple) else (h_n,)
            grads = grad_hn if isinstance(grad_hn, tuple) else (grad_hn,)
            for part, grad in zip(parts, grads, strict=True):
                loss = loss + (part * grad).sum()
        loss.backward()

    return run


def flush_denormal_speedup(call: LayerCall) -> dict[str, Any] | None:
    """Seconds of one forward+backward of the captured call as the step runs it (the
    current threads and flush flag) and flushed at one thread, and their ratio.

    Returns {"step_s", "flushed_s", "speedup", "threads"} (``threads``: the step's thread
    count), or None where this CPU cannot flush subnormals. One untimed flushed pass comes
    first (allocator, oneDNN primitives), then one timed pass of each.
    """
    threads, flushing = torch.get_num_threads(), flushes_subnormals()
    run = _layer_pass(call)
    try:
        with torch.random.fork_rng(devices=[]):
            if not torch.set_flush_denormal(True):
                return None
            torch.set_num_threads(1)
            run()
            (flushed_s,) = time_calls(run, 1)
            torch.set_flush_denormal(flushing)
            torch.set_num_threads(threads)
            (step_s,) = time_calls(run, 1)
    finally:
        torch.set_flush_denormal(flushing)
        torch.set_num_threads(threads)
    return {
        "step_s": step_s,
        "flushed_s": flushed_s,
        "speedup": step_s / flushed_s,
        "threads": threads,
    }
