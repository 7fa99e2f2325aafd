"""Split a run's cases into N disjoint parts of about equal expected time (``--shard K/N``).

The expected time of a row comes from :func:`expected_seconds`: building it, checking it
against the float64 reference and timing its rounds, with the time of one call taken as
its useful FLOPs (:func:`bench.flops.useful_flops`) over a rough per-backend speed. A
hidden-2560 training row costs thousands of hidden-64 inference rows, so parts are filled
by cost, not by count: greedy longest-processing-time assignment, each case (most
expensive first, ties in selection order) to the part with the least cost so far (ties to
the part with fewer cases, then the lowest), so no part is empty while there are at least
as many cases as parts. The split depends only on the selected cases and the preset, never on
the machine, so every machine cuts the same parts: rows a backend skips on some machines
(cudnn without a GPU, int8 training) are counted as if timed; only the preset's own
leave-out rules make a row free.
"""

from __future__ import annotations

from bench.cases import Case
from bench.flops import case_flops
from bench.presets import Preset

CALL_GFLOPS = {
    "numpy": 100.0,
    "torch-cell": 80.0,
    "torch-no-onednn": 120.0,
    "bf16": 400.0,
    "cudnn": 2000.0,
}
"""GFLOP/s of one backend's calls (others: DEFAULT_CALL_GFLOPS), from the medians of a
quick run's LSTM hidden-256 batch-64 rows on a 2-core Xeon (2 threads)."""

DEFAULT_CALL_GFLOPS = 150.0

CHECK_GFLOPS = 3.0
"""GFLOP/s of a row's check against the float64 reference (its problem's reference is made
by rnnref in float64; fitted with DEFAULT_BUILD_S to the same run)."""

BUILD_S = {"compile": 60.0, "onnxruntime": 3.0, "torchscript": 1.5}
"""Seconds to build one row of these backends (compile builds C++; others: DEFAULT_BUILD_S)."""

DEFAULT_BUILD_S = 1.0
"""Seconds per row besides its calls and check: building it, pytest's bookkeeping over the
passes. With CHECK_GFLOPS fitted to that quick run: 15 rows timed in 105 s (start-up
excluded), 32 s of it in timed calls, 181 GFLOP per call summed over the rows."""

WARM_UP_S = 0.1
"""usermodel.timing.warm_up calls a row for about this long before it is timed."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 1 <= K <= N; ``ValueError`` with one line otherwise."""
    index, slash, count = text.partition("/")
    if slash and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
        return int(index), int(count)
    raise ValueError(f"--shard must be K/N with 1 <= K <= N, e.g. 2/4; got {text!r}")


def expected_seconds(case: Case, preset: Preset) -> float:
    """The expected wall time of ``case`` in a run of ``preset`` (0 if the preset leaves it
    out): build + check + warm-up + the preset's rounds, all passes together."""
    if preset.skip_reason(case):
        return 0.0
    tokens = max(1, round(case.batch * case.seq_len * case.fill))
    flops = case_flops(case, tokens)
    call_s = flops / (CALL_GFLOPS.get(case.backend, DEFAULT_CALL_GFLOPS) * 1e9)
    check_s = flops / (CHECK_GFLOPS * 1e9)
    rounds = preset.rounds_per_pass(call_s) * preset.passes
    build_s = BUILD_S.get(case.backend, DEFAULT_BUILD_S)
    return build_s + check_s + max(WARM_UP_S, 2 * call_s) + rounds * call_s


def split(cases: list[Case], preset: Preset, count: int) -> list[list[Case]]:
    """``cases`` in ``count`` disjoint parts that together hold each case once, balanced
    by :func:`expected_seconds`; each part keeps the selection's order, and none is empty
    unless there are fewer cases than parts."""
    costs = [expected_seconds(case, preset) for case in cases]
    order = sorted(range(len(cases)), key=lambda i: (-costs[i], i))
    loads = [0.0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in order:
        part = min(range(count), key=lambda p: (loads[p], len(members[p]), p))
        loads[part] += costs[i]
        members[part].append(i)
    return [[cases[i] for i in sorted(part)] for part in members]


def part_seconds(cases: list[Case], preset: Preset) -> float:
    """The expected seconds of a part (the sum over its cases)."""
    return sum(expected_seconds(case, preset) for case in cases)
