"""The progress line of a run: rows done, pass, and an ETA from the cost model."""

from bench.cases import Case
from bench.presets import get_preset
from bench.progress import Progress, duration


def test_duration_reads_like_a_person_would_say_it():
    assert [duration(s) for s in (0.4, 42, 425, 7980)] == [
        "0 s",
        "42 s",
        "7 min 05 s",
        "2 h 13 min",
    ]


def test_every_item_counts_and_the_last_one_leaves_nothing_to_wait_for():
    preset = get_preset("quick")
    cases = [case for case in preset.cases if not preset.skip_reason(case)][:6]
    items = [(n, case) for n in range(1, preset.passes + 1) for case in cases]
    progress = Progress(items, preset)
    assert progress.expected_s > 0
    lines = [progress.finished(n) for n, _ in items]
    assert lines[0].startswith(f"row 1/{len(items)}, pass 1/{preset.passes}, ETA ")
    assert (
        lines[-1] == f"row {len(items)}/{len(items)}, pass {preset.passes}/{preset.passes}, ETA 0 s"
    )


def test_a_costly_row_weighs_more_in_the_eta_than_a_cheap_one():
    preset = get_preset("quick")
    big = Case("lstm", "training", "numpy", 64, 100, 256, 1024, 2, True, "padded", 1.0)
    small = Case("lstm", "inference", "torch", 1, 100, 256, 256, 1, False, "padded", 1.0)
    progress = Progress([(1, big), (1, small)], preset)
    assert progress._cost[0] > 10 * progress._cost[1]
