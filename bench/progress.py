"""Progress of a run: ``row k/N, pass p/P, ETA`` on each row's line, and the expected total.

The ETA comes from :func:`bench.shard.expected_seconds` (build, check and timing cost per
backend and size), scaled by how fast this machine has been so far: a count-based rate
(a progress bar's) is wrong by orders of magnitude when one hidden-2560 training row costs
as much as thousands of hidden-64 inference rows.
"""

from __future__ import annotations

import time

from bench.cases import Case
from bench.presets import Preset
from bench.shard import expected_seconds


def duration(seconds: float) -> str:
    """``42 s``, ``7 min 05 s`` or ``2 h 13 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts the run's (pass, case) items as they finish; ``line()`` says where it stands."""

    def __init__(self, items: list[tuple[int, Case]], preset: Preset) -> None:
        self.total = len(items)
        self.passes = preset.passes
        # A case's expected time split over its passes; pass 1 also builds and checks it.
        per_case = {case.id: expected_seconds(case, preset) for _, case in items}
        self._cost = [per_case[case.id] / preset.passes for _, case in items]
        self.expected_s = sum(self._cost)
        self._done = 0
        self._done_cost = 0.0
        self._start = time.perf_counter()

    def finished(self, timing_pass: int) -> str:
        """Mark the next item done; return ``row k/N, pass p/P, ETA ...``."""
        self._done_cost += self._cost[self._done] if self._done < self.total else 0.0
        self._done += 1
        elapsed = time.perf_counter() - self._start
        remaining = self.expected_s - self._done_cost
        eta = remaining * elapsed / self._done_cost if self._done_cost > 0 else remaining
        return (
            f"row {self._done}/{self.total}, pass {timing_pass}/{self.passes}, ETA {duration(eta)}"
        )
