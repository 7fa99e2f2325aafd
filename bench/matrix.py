"""The benchmark itself: one plain parametrized test per case (the harness owns timing).

Collected by ``python -m bench`` with :class:`bench.plugin.BenchPlugin`, which
supplies ``case_id`` and ``bench_run``.
"""

from __future__ import annotations

import statistics

import pytest

from bench.backends import BACKENDS
from bench.check import verify
from bench.metrics import describe_row, throughput
from bench.plugin import BenchRun
from bench.runner import warm_up


def test_case(case_id: str, bench_run: BenchRun, benchmark, request: pytest.FixtureRequest) -> None:
    """Check the case against the float64 reference, then time its step."""
    case = bench_run.cases[case_id]
    reason = bench_run.skip_reason(case)
    if reason:
        pytest.skip(reason)
    problem = bench_run.problem(case)
    runner = BACKENDS[case.backend].build(problem)
    agreement = verify(runner, problem, case.id)
    benchmark.group = f"{case.cell}-{case.mode}-{case.shape_id}"
    benchmark.extra_info.update(describe_row(case, runner, agreement, bench_run.threads))
    seconds_per_call = statistics.median(warm_up(runner.step))
    rounds = bench_run.preset.rounds_for(seconds_per_call)
    benchmark.pedantic(runner.step, rounds=rounds, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(throughput(case, median, bench_run.peak_for(runner.device)))
    request.node.user_properties += [("median_s", median), ("rel_err", agreement.rel_err)]
