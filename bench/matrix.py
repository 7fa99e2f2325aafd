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
from usermodel.timing import Timed, warm_up


def test_case(
    timing_pass: int, case_id: str, bench_run: BenchRun, request: pytest.FixtureRequest
) -> None:
    """Pass 1: build the case, check it against the float64 reference, warm it up and
    choose its rounds. Every pass: time its share of the rounds (the harness's timer,
    :meth:`bench.plugin.BenchRun.time`; the plugin records them)."""
    case = bench_run.cases[case_id]
    if timing_pass == 1:
        reason = bench_run.skip_reason(case)
        if reason:
            pytest.skip(reason)
        problem = bench_run.problem(case)
        runner = BACKENDS[case.backend].build(problem)
        agreement = verify(runner, problem, case.id)
        extra_info = describe_row(case, runner, agreement, bench_run.threads)
        backend = BACKENDS[case.backend]
        bench_run.settle(case)
        seconds_per_call = statistics.median(warm_up(runner.step))
        rounds = bench_run.preset.rounds_per_pass(seconds_per_call)
        timed = Timed(runner.step, backend.thread_pool, rounds)
        bench_run.built[case_id] = BuiltRow(runner, timed, extra_info)
        request.node.user_properties.append(("rel_err", agreement.rel_err))
    row = bench_run.built.get(case_id)
    if row is None:
        pytest.skip("not timed: it failed in its first pass")
    timings = bench_run.time(row)
    median = statistics.median(timings)
    request.node.user_properties += [
        ("timings", timings),
        ("median_s", median),
        ("pass", timing_pass),
    ]
