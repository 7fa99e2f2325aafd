"""``--shard K/N``: disjoint parts that cover the selection, balanced by expected time."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.__main__ import main
from bench.presets import get_preset
from bench.run import select
from bench.shard import expected_seconds, parse_shard, part_seconds, split

PRESETS = {name: get_preset(name) for name in ("smoke", "quick", "full")}


@given(
    name=st.sampled_from(sorted(PRESETS)),
    picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=60, unique=True),
    count=st.integers(1, 12),
)
def test_parts_are_disjoint_cover_the_selection_and_repeat(name, picks, count):
    preset = PRESETS[name]
    cases = [preset.cases[i % len(preset.cases)] for i in sorted(set(picks))]
    cases = list(dict.fromkeys(cases))
    parts = split(cases, preset, count)
    assert len(parts) == count
    flat = [case for part in parts for case in part]
    assert sorted(c.id for c in flat) == sorted(c.id for c in cases)  # each exactly once
    for part in parts:  # each part keeps the selection's order
        assert part == [case for case in cases if case in part]
    assert split(list(cases), preset, count) == parts  # the same cut on every machine
    assert sum(not part for part in parts) == max(0, count - len(cases))


@pytest.mark.parametrize("name", ["quick", "full"])
@pytest.mark.parametrize("count", [2, 4, 8])
def test_parts_are_balanced_by_expected_time_not_count(name, count):
    preset = PRESETS[name]
    cases = list(preset.cases)
    costs = [part_seconds(part, preset) for part in split(cases, preset, count)]
    mean = sum(costs) / count
    biggest = max(expected_seconds(case, preset) for case in cases)
    assert max(costs) <= max(1.5 * mean, mean + biggest)  # greedy LPT's bound
    if (name, count) == ("quick", 4):
        assert max(costs) <= 1.5 * mean


def test_a_big_training_row_outweighs_many_small_inference_rows():
    full = PRESETS["full"]
    by_id = {case.id: case for case in full.cases}
    big = by_id["lstm-training-torch-b64-t50-i2560-h2560-l1-uni-padded-f1"]
    small = by_id["lstm-inference-torch-b1-t100-i256-h256-l1-uni-padded-f1"]
    assert expected_seconds(big, full) > 100 * expected_seconds(small, full)
    smalls = select(full.cases, "inference and b1-")
    assert len(smalls) > 10
    assert [big] in split([*smalls, big], full, 2)  # the big row gets a part of its own


def test_cases_that_cost_nothing_still_fill_every_part():
    quick = PRESETS["quick"]
    free = [case for case in quick.cases if quick.skip_reason(case)][:3]
    parts = split([*free, quick.cases[0]], quick, 4)
    assert all(len(part) == 1 for part in parts)


def test_left_out_cases_cost_nothing():
    quick = PRESETS["quick"]
    left_out = [case for case in quick.cases if quick.skip_reason(case)]
    assert left_out
    assert all(expected_seconds(case, quick) == 0.0 for case in left_out)


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3", ""])
def test_bad_shard_is_refused(text):
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("--shard", "5/4"), "--shard must be K/N"),
        (("--shard", "3/3", "--filter", "gru-inference-numpy or gru-inference-torch-b"), "empty"),
        (("--parts", "2"), "--parts needs --ray"),
        (("--shard", "1/2", "--ray", "local"), "not allowed with"),
    ],
)
def test_bad_shard_arguments_print_one_line_and_exit_2(tmp_path, capsys, args, word):
    try:
        code = main(["--preset", "smoke", *args, "--out", str(tmp_path / "out")])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err
    assert not (tmp_path / "out").exists()
