"""The numbers a row stores besides its timings: what ran, how exact, how fast against peak."""

from __future__ import annotations

from typing import Any

from bench.cases import Case, valid_tokens
from bench.check import BOUNDS, Agreement
from bench.flops import case_flops
from bench.workload import Runner


def describe_row(case: Case, runner: Runner, agreement: Agreement, threads: int) -> dict[str, Any]:
    """The case's fields, what ran, and its agreement with the reference (before timing)."""
    return {
        "case": case.id,
        "backend": case.backend,
        "cell": case.cell,
        "mode": case.mode,
        "batch": case.batch,
        "seq_len": case.seq_len,
        "input_size": case.input_size,
        "hidden_size": case.hidden_size,
        "num_layers": case.num_layers,
        "bidirectional": case.bidirectional,
        "layout": case.layout,
        "fill": case.fill,
        **what_ran(runner, agreement, threads),
        **runner.extra,
    }


def what_ran(runner: Runner, agreement: Agreement, threads: int) -> dict[str, Any]:
    """A row's dtype, device, threads and module, and its agreement with the reference."""
    return {
        "dtype": runner.dtype,
        "device": runner.device,
        "threads": threads,
        "module": runner.module,
        "rel_err": agreement.rel_err,
        "max_abs_err": agreement.max_abs_err,
        "worst_output": agreement.worst,
        "numerics": runner.numerics,
        "bound": BOUNDS[runner.numerics],
    }


def throughput(case: Case, median_s: float, peak_gflops: float) -> dict[str, Any]:
    """Useful FLOPs, GFLOP/s, % of the device's GEMM peak and valid tokens per second."""
    tokens = valid_tokens(case)
    flops = case_flops(case, tokens)
    gflops = flops / median_s / 1e9
    return {
        "valid_tokens": tokens,
        "fill_actual": round(tokens / (case.batch * case.seq_len), 4),
        "flops": flops,
        "gflops": gflops,
        "pct_peak": 100.0 * gflops / peak_gflops,
        "tokens_per_s": tokens / median_s,
    }
