"""Rows are timed in passes through the case list, grouped by thread pool after the first."""

import dataclasses
import itertools

from bench.plugin import BenchRun
from bench.presets import get_preset
from usermodel import timing
from usermodel.timing import SETTLE_S


def _run(passes: int) -> BenchRun:
    preset = dataclasses.replace(get_preset("smoke"), passes=passes)
    return BenchRun(preset, list(preset.cases), recorder=None, peak={}, threads=2)


def test_every_case_in_pass_one_then_the_timed_ones_in_each_later_pass():
    run = _run(passes=3)
    items = run.timing_passes()
    first = [case_id for n, case_id in items if n == 1]
    assert first == list(run.cases)  # the preset's order: one problem's backends together
    timed = {case_id for case_id, case in run.cases.items() if not run.skip_reason(case)}
    assert timed < set(run.cases)  # smoke leaves some out (compile training)
    for n in (2, 3):
        assert sorted(case_id for m, case_id in items if m == n) == sorted(timed)
    assert [n for n, _ in items] == sorted(n for n, _ in items)  # pass by pass


def test_later_passes_switch_thread_pool_once():
    run = _run(passes=4)
    pools = [run.cases[case_id].backend == "numpy" for n, case_id in run.timing_passes() if n > 1]
    # once inside each of passes 2-4, never between two (every other pass runs in reverse)
    assert sum(a != b for a, b in itertools.pairwise(pools)) == 3
    first = [run.cases[c].backend == "numpy" for n, c in run.timing_passes() if n == 1]
    assert sum(a != b for a, b in itertools.pairwise(first)) > 1  # pass 1 switches often


def test_a_row_after_another_thread_pool_waits_for_its_threads_to_settle(monkeypatch):
    pauses = []
    monkeypatch.setattr(timing.time, "sleep", pauses.append)
    run = _run(passes=1)
    by_backend = {case.backend: case for case in run.cases.values()}
    for backend in ("numpy", "numpy", "torch", "torchscript", "int8", "numpy", "torch"):
        run.settle(by_backend[backend])
    assert pauses == [SETTLE_S] * 3  # numpy -> torch, int8 -> numpy, numpy -> torch


def test_rounds_are_split_over_the_passes():
    preset = dataclasses.replace(get_preset("quick"), passes=10)
    assert preset.rounds_for(0.2) == 5 and preset.rounds_per_pass(0.2) == 1
    assert preset.rounds_for(0.001) == 200 and preset.rounds_per_pass(0.001) == 20
    assert preset.rounds_per_pass(0.02) == 3  # 25 rounds: 3 per pass, 30 in all
