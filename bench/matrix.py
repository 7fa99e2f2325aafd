"""The benchmark itself: one plain parametrized test per case and pass (the harness
owns timing).

Collected by ``python -m bench`` with :class:`bench.plugin.BenchPlugin`, which
supplies ``timing_pass``, ``case_id`` and ``bench_run``.
"""

from __future__ import annotations

import statistics

import pytest

from bench.backends import BACKENDS
from bench.check import verify
from bench.metrics import describe_row
from bench.plugin import BenchRun, BuiltRow
from bench.runner import warm_up


def test_case(
    timing_pass: int,
    case_id: str,
    bench_run: BenchRun,
    benchmark,
    request: pytest.FixtureRequest,
) -> None:
    """Pass 1: build the case, check it against the float64 reference, warm it up and
    choose its rounds. Every pass: time its share of the rounds."""
    case = bench_run.cases[case_id]
    if timing_pass == 1:
        reason = bench_run.skip_reason(case)
        if reason:
            pytest.skip(reason)
        problem = bench_run.problem(case)
        runner = BACKENDS[case.backend].build(problem)
        agreement = verify(runner, problem, case.id)
        benchmark.extra_info.update(describe_row(case, runner, agreement, bench_run.threads))
        bench_run.settle(case)
        seconds_per_call = statistics.median(warm_up(runner.step))
        rounds = bench_run.preset.rounds_per_pass(seconds_per_call)
        bench_run.built[case_id] = BuiltRow(runner, rounds)
        request.node.user_properties.append(("rel_err", agreement.rel_err))
    row = bench_run.built.get(case_id)
    if row is None:
        pytest.skip("not timed: it failed in its first pass")
    if timing_pass > 1:
        bench_run.settle(case)
    benchmark.group = f"{case.cell}-{case.mode}-{case.shape_id}"
    benchmark.pedantic(row.runner.step, rounds=row.rounds_per_pass, iterations=1)
    median = benchmark.stats.stats.median
    request.node.user_properties += [("median_s", median), ("pass", timing_pass)]
