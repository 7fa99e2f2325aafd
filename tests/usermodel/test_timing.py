"""The suite's one timer: rows pass by pass, untimed calls, setup, settle pauses, GC off."""

import gc

from usermodel import timing
from usermodel.timing import Settle, Timed, time_calls, time_passes, warm_up


def test_rows_are_timed_pass_by_pass_with_their_untimed_calls_and_setup(monkeypatch):
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda s: events.append(("pause", s)))
    rows = {
        "a": Timed(lambda: events.append("a"), "numpy", rounds=2),
        "b": Timed(lambda n: events.append(f"b{n}"), "torch", untimed=1, setup=lambda: (7,)),
    }
    told = []
    times = time_passes(rows, 2, timed=lambda name, n, s: told.append((name, n, len(s))))
    pause = ("pause", timing.SETTLE_S)
    # a pool change pauses, the first row does not; pass 2 runs in reverse, from b's pool
    assert events == ["a", "a", pause, "b7", "b7", "b7", "b7", pause, "a", "a"]
    assert {name: len(s) for name, s in times.items()} == {"a": 4, "b": 2}
    assert told == [("a", 1, 2), ("b", 1, 1), ("b", 2, 1), ("a", 2, 2)]


def test_a_pass_groups_its_rows_by_pool_and_pauses_once(monkeypatch):
    pauses, ran = [], []
    monkeypatch.setattr(timing.time, "sleep", pauses.append)
    pools = {"eager": "torch", "onnx": "ONNX Runtime", "script": "torch", "train": "torch"}
    rows = {name: Timed(lambda name=name: ran.append(name), pool) for name, pool in pools.items()}
    time_passes(rows, 4)
    one = ["eager", "script", "train", "onnx"]
    assert ran == one + one[::-1] + one + one[::-1]
    assert len(pauses) == 4  # one per pass: torch -> ONNX Runtime, then back in the next


def test_each_call_is_timed_alone_with_the_garbage_collector_off(monkeypatch):
    clock = iter([0.0, 1.0, 5.0, 7.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    enabled = []
    assert time_calls(lambda: enabled.append(gc.isenabled()), 2) == [1.0, 2.0]
    assert enabled == [False, False] and gc.isenabled()


def test_warm_up_calls_at_least_its_minimum_and_settle_remembers_the_pool(monkeypatch):
    calls = []
    assert len(warm_up(lambda: calls.append(1), min_calls=3, seconds=0.0)) == 3 == len(calls)
    pauses = []
    monkeypatch.setattr(timing.time, "sleep", pauses.append)
    settle = Settle()
    for pool in ("torch", "torch", "numpy", "numpy", "torch"):
        settle(pool)
    assert pauses == [timing.SETTLE_S] * 2
