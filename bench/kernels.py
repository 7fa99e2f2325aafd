"""Which native kernels a call really ran: oneDNN's own record of the primitives it executed.

oneDNN (torch's CPU backend for LSTM, matmul and convolutions) prints one
``onednn_verbose,...,exec,cpu,KIND,IMPLEMENTATION,...`` line per primitive it runs
while verbose mode is on; the implementation names the ISA, e.g.
``brgemm:avx10_1_512_amx`` (AMX tiles) or ``brgemm:avx512_core_bf16``. The lines go
to the process's standard output (file descriptor 1), which is captured for one call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.native_output import captured_stdout


def onednn_primitives(call: Callable[[], object]) -> list[str]:
    """``KIND IMPLEMENTATION`` of every oneDNN primitive one ``call()`` executed, sorted and
    unique, e.g. ``["rnn brgemm:avx10_1_512_amx"]``; empty when it ran none."""
    with captured_stdout() as captured:
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            call()
        captured.seek(0)
        lines = captured.read().splitlines()
    found = set()
    for line in lines:
        fields = line.split(",")
        if len(fields) > 6 and fields[0] == "onednn_verbose" and "exec" in fields[2:4]:
            at = fields.index("exec")
            if fields[at + 1] == "cpu":
                found.add(f"{fields[at + 2]} {fields[at + 3]}")
    return sorted(found)


def kernel_description(call: Callable[[], object]) -> str:
    """One line naming the kernels ``call`` ran: oneDNN's primitives with their ISA, or that
    it ran none (torch's own ATen kernels)."""
    primitives = onednn_primitives(call)
    if not primitives:
        capability = torch.backends.cpu.get_cpu_capability()
        return f"ATen (no oneDNN primitive; CPU capability {capability})"
    return "oneDNN " + ", ".join(primitives)
