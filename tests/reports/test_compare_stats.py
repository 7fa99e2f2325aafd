"""reports.compare: known shifts are found, noise is not, cases join on their full key."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports.compare import (
    DRIFT_MIN_CASES,
    NOISE_FLOOR,
    Drift,
    bootstrap_medians,
    classify,
    compare_runs,
    median_ratio,
    run_drift,
)
from reports.runfile import BadRunFile
from tests.reports import runfactory as rf

NOISE_PAIRS = 1000


def _verdict(base_median: float, new_median: float, noise: float, rounds: int, seed: int) -> str:
    base = rf.timings(base_median, noise, rounds, seed=2 * seed)
    new = rf.timings(new_median, noise, rounds, seed=2 * seed + 1)
    return classify(*median_ratio(base, new, seed=seed))


def test_twenty_percent_slowdown_is_flagged() -> None:
    verdicts = [_verdict(0.01, 0.012, noise=0.05, rounds=20, seed=s) for s in range(50)]
    assert verdicts.count("slower") == 50


def test_twenty_percent_speedup_is_flagged() -> None:
    verdicts = [_verdict(0.012, 0.01, noise=0.05, rounds=20, seed=s) for s in range(50)]
    assert verdicts.count("faster") == 50


def test_change_inside_noise_floor_is_unchanged() -> None:
    # 2% slower with tight timings: the interval excludes 1 but the change is under the floor.
    ratio, low, high = median_ratio(
        rf.timings(0.01, 0.002, 200, seed=1), rf.timings(0.0102, 0.002, 200, seed=2), seed=3
    )
    assert low > 1
    assert ratio < 1 + NOISE_FLOOR
    assert classify(ratio, low, high) == "unchanged"


@pytest.mark.parametrize(("noise", "rounds", "limit"), [(0.05, 20, 0.01), (0.10, 25, 0.05)])
def test_false_alarm_rate_on_pure_noise_is_low(noise: float, rounds: int, limit: float) -> None:
    verdicts = [_verdict(0.01, 0.01, noise, rounds, seed=s) for s in range(NOISE_PAIRS)]
    false_alarms = sum(v != "unchanged" for v in verdicts) / NOISE_PAIRS
    print(f"false-alarm rate, noise {noise:.0%}, {rounds} rounds: {false_alarms:.2%}")
    assert false_alarms <= limit


def test_three_timings_give_a_verdict_only_when_ranges_part() -> None:
    assert classify(*median_ratio([1.0, 1.1, 1.2], [1.15, 1.25, 1.3])) == "unchanged"
    assert classify(*median_ratio([1.0, 1.1, 1.2], [1.5, 1.6, 1.7])) == "slower"


def test_interval_is_reproducible_and_covers_the_ratio() -> None:
    base, new = rf.timings(0.01, 0.05, 30, seed=5), rf.timings(0.011, 0.05, 30, seed=6)
    first = median_ratio(base, new, seed=11)
    assert first == median_ratio(base, new, seed=11)
    ratio, low, high = first
    assert low < ratio < high
    assert ratio == pytest.approx(np.median(new) / np.median(base))


def test_too_few_timings_get_no_verdict() -> None:
    ratio, low, high = median_ratio([1.0, 1.1], [2.0, 2.1])
    assert ratio == pytest.approx(2.05 / 1.05)
    assert math.isnan(low) and math.isnan(high)
    assert classify(ratio, low, high) == "unchanged"


def _loaded(doc: dict, name: str) -> dict:
    return {**doc, "partial": False, "source": name}


def test_join_on_full_key_lists_cases_in_one_run_only() -> None:
    shared = [rf.benchmark(batch=b, seed=b) for b in (1, 16)]
    base = rf.run([*shared, rf.benchmark(batch=64, seed=64)])
    new_rows = [
        rf.benchmark(batch=1, seed=101),
        rf.benchmark(batch=16, seed=116, median=0.013),
        rf.benchmark(batch=16, seed=7, fill=0.5, layout="packed"),
    ]
    refused = {"case": base["benchmarks"][2]["extra_info"]["case"], "error": "rel_err 0.3"}
    new = rf.run(new_rows, failed=[refused])
    result = compare_runs(_loaded(base, "base.json"), _loaded(new, "new.json"))
    assert result.not_run_new == {refused["case"]: "refused: rel_err 0.3"}
    assert sorted(c.new["batch"] for c in result.cases) == [1, 16]
    assert [(r["batch"], r["layout"]) for r in result.only_new] == [(16, "packed")]
    assert [r["batch"] for r in result.only_base] == [64]
    verdicts = {c.new["batch"]: c.verdict for c in result.cases}
    assert verdicts == {1: "unchanged", 16: "slower"}
    assert result.regressions(20) == [c.describe() for c in result.cases if c.new["batch"] == 16]
    assert result.regressions(50) == []
    assert not result.across_machines


def test_every_key_field_separates_cases() -> None:
    base = rf.run([rf.benchmark(seed=1)])
    for field, value in [
        ("dtype", "float64"),
        ("device", "cuda"),
        ("bidirectional", True),
        ("num_layers", 2),
        ("seq_len", 50),
        ("backend", "numpy"),
    ]:
        new = rf.run([rf.benchmark(seed=1, **{field: value})])
        result = compare_runs(_loaded(base, "b"), _loaded(new, "n"))
        assert not result.cases, field
        assert len(result.only_base) == len(result.only_new) == 1


def test_environment_differences_and_machines() -> None:
    base = rf.run([rf.benchmark(seed=1)])
    other = rf.run(
        [rf.benchmark(seed=2)],
        machine={**rf.MACHINE, "node": "elsewhere"},
        versions={**rf.VERSIONS, "torch": "2.14.0"},
    )
    result = compare_runs(_loaded(base, "b"), _loaded(other, "n"))
    differing = {label: (a, b) for label, a, b in result.env if a != b}
    assert differing == {"machine": ("testbox", "elsewhere"), "torch": ("2.13.0", "2.14.0")}
    assert result.across_machines
    assert "comparison across machines" in result.summary_line()


def test_a_comparison_says_when_the_runs_were_timed_differently() -> None:
    one_block = rf.run([rf.benchmark(seed=1)])
    one_block["rnnref"]["timing"] = {"min_rounds": 5, "max_rounds": 200, "max_time_s": 0.5}
    in_passes = rf.run([rf.benchmark(seed=2)])
    in_passes["rnnref"]["timing"] = {**one_block["rnnref"]["timing"], "passes": 10}
    result = compare_runs(_loaded(one_block, "b"), _loaded(in_passes, "n"))
    differing = {label: (a, b) for label, a, b in result.env if a != b}
    assert differing == {
        "timing": (
            "1 pass, 5-200 rounds, about 0.5 s per row",
            "10 passes, 5-200 rounds, about 0.5 s per row",
        )
    }
    assert not result.across_machines


def test_duplicate_case_and_missing_timings_are_bad_files() -> None:
    row = rf.benchmark(seed=1)
    with pytest.raises(BadRunFile, match="appears twice"):
        compare_runs(_loaded(rf.run([row, row]), "dup.json"), _loaded(rf.run([row]), "n"))
    bare = rf.benchmark(seed=1)
    del bare["stats"]["data"]
    with pytest.raises(BadRunFile, match=r"nodata\.json: no raw timings"):
        compare_runs(_loaded(rf.run([row]), "b"), _loaded(rf.run([bare]), "nodata.json"))


@pytest.mark.parametrize("n", [5, 8, 31])
def test_fast_bootstrap_medians_match_resampling_by_index(n: int) -> None:
    data = np.array(rf.timings(1.0, 0.3, n, seed=n))
    draws = 100_000
    naive = np.median(data[np.random.default_rng(0).integers(0, n, (draws, n))], axis=1)
    fast = bootstrap_medians(data, draws, np.random.default_rng(1))
    grid = np.unique(np.concatenate([naive, fast]))
    cdf_naive = np.searchsorted(np.sort(naive), grid, side="right") / draws
    cdf_fast = np.searchsorted(np.sort(fast), grid, side="right") / draws
    assert np.max(np.abs(cdf_naive - cdf_fast)) < 0.01


def test_long_timing_series_are_cheap() -> None:
    base, new = rf.timings(1e-4, 0.05, 100_000, seed=1), rf.timings(1e-4, 0.05, 100_000, seed=2)
    ratio, low, high = median_ratio(base, new)
    assert low < ratio < high
    assert high - low < 0.01


def test_noisy_rows_are_marked() -> None:
    calm = rf.run([rf.benchmark(seed=1, noise=0.01)])
    shaky = rf.run([rf.benchmark(seed=2, noise=0.3)])
    result = compare_runs(_loaded(calm, "b"), _loaded(calm, "n"))
    assert not result.cases[0].noisy
    result = compare_runs(_loaded(calm, "b"), _loaded(shaky, "n"))
    assert result.cases[0].noisy
    assert result.cases[0].describe().endswith("; noisy row)")


def _drifting_pair(
    cases: int, shift: float, spread: float, slowed: dict[int, float], seed: int
) -> tuple[dict, dict]:
    """BASE and NEW runs of ``cases`` cases (batch = index): NEW is BASE moved by ``shift``
    as a whole and by lognormal ``spread`` case by case (drift between runs on one
    machine), and case i further by the factor ``slowed[i]``."""
    rng = np.random.default_rng(seed)
    base_rows, new_rows = [], []
    for i in range(cases):
        median = 0.001 * (1 + i % 7)
        moved = median * shift * math.exp(spread * rng.standard_normal()) * slowed.get(i, 1.0)
        base_rows.append(rf.benchmark(batch=i + 1, median=median, seed=2 * i, noise=0.02))
        new_rows.append(rf.benchmark(batch=i + 1, median=moved, seed=2 * i + 1, noise=0.02))
    return _loaded(rf.run(base_rows), "base.json"), _loaded(rf.run(new_rows), "new.json")


def test_run_drift_recovers_shift_and_spread() -> None:
    rng = np.random.default_rng(0)
    drift = run_drift(1.06 * np.exp(0.04 * rng.standard_normal(400)))
    assert drift.estimated
    assert drift.shift == pytest.approx(1.06, rel=0.01)
    assert drift.spread == pytest.approx(0.04, rel=0.15)
    # 40% of the cases 3x slower: the shift and spread still describe the other 60%.
    mixed = 1.06 * np.exp(0.04 * rng.standard_normal(400))
    mixed[:160] *= 3
    drift = run_drift(mixed)
    assert drift.shift == pytest.approx(1.06, rel=0.02)
    assert drift.spread == pytest.approx(0.04, rel=0.25)
    assert not run_drift([1.3] * (DRIFT_MIN_CASES - 1)).estimated
    assert run_drift([1.3] * (DRIFT_MIN_CASES - 1)) == Drift(cases=DRIFT_MIN_CASES - 1)


@pytest.mark.parametrize("seed", range(5))
def test_drift_between_runs_is_not_flagged(seed: int) -> None:
    # Same code twice on one machine: the second run 7% slower as a whole, each case off
    # by 4% more; inside each run the timings are tight, so the bootstrap alone would
    # call most cases slower.
    base, new = _drifting_pair(120, shift=1.07, spread=0.04, slowed={}, seed=seed)
    result = compare_runs(base, new)
    alone = sum(classify(c.ratio, c.low, c.high) != "unchanged" for c in result.cases)
    flagged = [c for c in result.cases if c.verdict != "unchanged"]
    print(f"seed {seed}: bootstrap alone flags {alone}/120, with drift {len(flagged)}/120")
    assert alone > 60
    assert len(flagged) <= 2
    assert result.drift.shift == pytest.approx(1.07, rel=0.02)
    assert result.regressions(10) == []


def test_slowed_cases_among_drift_are_exactly_the_ones_flagged() -> None:
    slowed = {i: 1.25 for i in range(0, 120, 4)}  # a quarter of the cases, as numpy's rows
    base, new = _drifting_pair(120, shift=1.05, spread=0.03, slowed=slowed, seed=11)
    result = compare_runs(base, new)
    flagged = sorted(c.new["batch"] - 1 for c in result.cases if c.verdict == "slower")
    assert flagged == sorted(slowed)
    assert all(c.verdict != "faster" for c in result.cases)
    assert len(result.regressions(10)) == len(slowed)


def test_a_shift_of_the_whole_run_is_machine_drift_not_a_regression() -> None:
    # The machine ran 25% slower for the whole second run: every case moved alike.
    base, new = _drifting_pair(60, shift=1.25, spread=0.01, slowed={}, seed=3)
    result = compare_runs(base, new)
    assert result.count("slower") == 0
    gate = result.gate(10)
    assert gate.passed and result.regressions(10) == []
    assert gate.machine_drift() is not None and "moved 1.2" in gate.machine_drift()
    assert "run-wide shift 1.2" in result.summary_line()
