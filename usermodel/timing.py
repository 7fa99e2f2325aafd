"""The suite's one timer: every timing of ``bench`` and ``diagnostics`` goes through it.

A *row* (:class:`Timed`) is one thing to time: a zero-argument ``step``, the thread
pool it runs on, how many timed calls it gets per pass and how many untimed calls
precede them. Rows are timed in *passes*: pass after pass, every row's share of its
calls in turn (:func:`time_passes`), so that load from elsewhere on a shared machine
hits every row alike instead of the few seconds one row happened to run in. Where a
row follows one on another thread pool, the timer first pauses :data:`SETTLE_S`
(:class:`Settle`). Each timed call is timed alone with ``time.perf_counter``, the
garbage collector off (as pytest-benchmark's ``--benchmark-disable-gc``), and every
duration is kept (raw timings, seconds). :func:`warm_up` runs a row until it reaches
its steady state and says how long a call takes, to choose its rounds.

The matrix (one pytest item per row and pass, :mod:`bench.plugin`) times each item
with :func:`time_pass`; ``bench model``, ``bench.reference_speed`` and ``diagnostics
cost`` time their rows with :func:`time_passes`.

It lives in usermodel, the package both ``bench`` and ``diagnostics`` import (DESIGN's
arrows forbid either importing the other), and needs nothing beyond the standard
library.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SETTLE_S = 0.2
"""Pause before timing calls on other worker threads than the calls just before.

OpenBLAS's threads spin for about 0.1 s after NumPy's last GEMM before they sleep; torch's
threads, started meanwhile, share the cores with them: the first 0.1 s of torch calls
right after NumPy ran 1.5-2.5x slower on a 2-core machine."""


@dataclass
class Timed:
    """One row: ``step(*setup())`` does one unit of work; each pass calls it ``untimed``
    times untimed, then ``rounds`` times timed. ``setup`` (as pytest-benchmark's
    ``pedantic``) runs untimed before each call and gives its arguments, e.g. a freshly
    built model; None: ``step()``. ``pool`` names the worker threads it runs on
    (``"torch"``, ``"NumPy's BLAS"``, ``"ONNX Runtime"``)."""

    step: Callable[..., object]
    pool: str = "torch"
    rounds: int = 1
    untimed: int = 0
    setup: Callable[[], tuple] | None = None

    def arguments(self) -> tuple:
        return self.setup() if self.setup else ()


class Settle:
    """Pauses :data:`SETTLE_S` before a row whose pool differs from the last row's."""

    def __init__(self) -> None:
        self.last_pool: str | None = None

    def __call__(self, pool: str) -> None:
        if self.last_pool not in (None, pool):
            time.sleep(SETTLE_S)
        self.last_pool = pool


def warm_up(step: Callable[[], object], min_calls: int = 2, seconds: float = 0.1) -> list[float]:
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


def time_calls(
    step: Callable[..., object], rounds: int, setup: Callable[[], tuple] | None = None
) -> list[float]:
    """Seconds of each of ``rounds`` calls of ``step`` (on ``setup()``'s arguments, made
    untimed before each call), each timed alone, the garbage collector off meanwhile (it
    would add a pause to whichever call it fell in)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        durations = []
        for _ in range(rounds):
            arguments = setup() if setup else ()
            start = time.perf_counter()
            step(*arguments)
            durations.append(time.perf_counter() - start)
        return durations
    finally:
        if gc_was_enabled:
            gc.enable()


def time_pass(row: Timed, settle: Settle) -> list[float]:
    """One row's share of one pass: the settle pause if its pool changed, its untimed
    calls, then its timed ones; returns their seconds."""
    settle(row.pool)
    for _ in range(row.untimed):
        row.step(*row.arguments())
    return time_calls(row.step, row.rounds, row.setup)


def pass_order(names: Sequence[str], pool: Callable[[str], str], number: int) -> list[str]:
    """The rows ``names`` in the order pass ``number`` (from 1) runs them: the rows of one
    thread pool (``pool(name)``) together, pools in the order they first appear, rows in
    the given order, and every even pass in reverse, so that a pass starts on the pool the
    last one ended on: one settle pause per pass where two pools take turns."""
    pools = list(dict.fromkeys(map(pool, names)))
    order = sorted(names, key=lambda name: pools.index(pool(name)))  # stable
    return order if number % 2 else order[::-1]


def time_passes(
    rows: Mapping[str, Timed],
    passes: int,
    settle: Settle | None = None,
    timed: Callable[[str, int, list[float]], None] | None = None,
) -> dict[str, list[float]]:
    """Every row's calls, pass after pass, each pass in :func:`pass_order` (the mapping's
    order within a pool); ``timed(name, pass_number, seconds)`` is told each row's pass as
    it ends (from 1). Returns each row's seconds over all passes, in the order timed."""
    settle = settle or Settle()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for number in range(1, passes + 1):
        for name in pass_order(list(rows), lambda name: rows[name].pool, number):
            seconds = time_pass(rows[name], settle)
            times[name] += seconds
            if timed:
                timed(name, number, seconds)
    return times
