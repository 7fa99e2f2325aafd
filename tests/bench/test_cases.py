"""Case ids, presets and the seeded sequence lengths."""

import numpy as np
import pytest

from bench.backends import BACKENDS
from bench.cases import Case, draw_lengths, parse_case_id, valid_tokens
from bench.presets import FILLS, PRESETS, get_preset


def test_id_round_trips():
    case = Case("gru", "training", "torch-cell", 16, 100, 32, 256, 2, True, "packed", 0.75)
    assert case.id == "gru-training-torch-cell-b16-t100-i32-h256-l2-bi-packed-f0.75"
    assert parse_case_id(case.id) == case


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "lstm",
        "lstm-inference-torch-b0-t1-i1-h1-l1-uni-padded-f1",
        "xyz-inference-torch-b1-t1-i1-h1-l1-uni-padded-f1",
    ],
)
def test_bad_ids_are_refused(bad):
    with pytest.raises(ValueError):
        parse_case_id(bad)


def test_backends_of_one_problem_share_it():
    a = Case("lstm", "inference", "torch", 8, 10, 4, 4, layout="padded", fill=0.5)
    b = Case("lstm", "training", "numpy", 8, 10, 4, 4, layout="packed", fill=0.5)
    assert a.problem_id == b.problem_id
    assert a.problem_id != Case("lstm", "inference", "torch", 8, 10, 4, 4, fill=0.75).problem_id


@pytest.mark.parametrize("fill", FILLS)
def test_lengths_reach_the_fill(fill):
    lengths = draw_lengths(64, 100, fill, seed=3)
    assert lengths.dtype == np.int64 and lengths.shape == (64,)
    assert lengths.max() == 100 and lengths.min() >= 1
    assert abs(lengths.mean() / lengths.max() - fill) < 0.01
    np.testing.assert_array_equal(lengths, draw_lengths(64, 100, fill, seed=3))


def test_valid_tokens_counts_only_real_steps():
    full = Case("lstm", "inference", "torch", 64, 100, 8, 8)
    half = Case("lstm", "inference", "torch", 64, 100, 8, 8, fill=0.5)
    assert valid_tokens(full) == 6400
    assert abs(valid_tokens(half) - 3200) <= 64


def test_quick_preset_covers_every_backend_cell_mode_and_fill():
    quick = get_preset("quick")
    seen = {(c.backend, c.cell, c.mode, c.batch) for c in quick.cases}
    for backend in BACKENDS:
        for cell in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
            for mode in ("inference", "training"):
                assert {(backend, cell, mode, b) for b in (1, 16, 64)} <= seen
    packed_fills = {c.fill for c in quick.cases if c.layout == "packed"}
    assert packed_fills == set(FILLS)
    assert len({c.id for c in quick.cases}) == len(quick.cases)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_build_and_name_their_cases_uniquely(name):
    preset = get_preset(name)
    assert preset.cases and len({c.id for c in preset.cases}) == len(preset.cases)
    assert all(c.backend in BACKENDS for c in preset.cases)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="smoke, quick, full, gpu"):
        get_preset("fast")


def test_rounds_follow_the_time_per_call_within_bounds():
    quick = get_preset("quick")
    assert quick.rounds_for(10.0) == quick.min_rounds  # slow rows: the minimum
    assert quick.rounds_for(1e-6) == quick.max_rounds  # fast rows: capped
    assert quick.rounds_for(quick.max_time / 20) == 20
