"""The FLOP convention, checked against counts worked out by hand."""

import pytest

from bench.flops import useful_flops


def test_lstm_single_layer_by_hand():
    # 4 gates x H=256 rows x (I + H) = 512 columns x 2 FLOPs per multiply-add, 6400 tokens
    assert useful_flops("lstm", "inference", 6400, 256, 256) == 2 * 4 * 256 * 512 * 6400


def test_cells_scale_with_their_gate_count():
    counts = {
        cell: useful_flops(cell, "inference", 10, 32, 64) for cell in ("rnn_tanh", "gru", "lstm")
    }
    assert counts["gru"] == 3 * counts["rnn_tanh"]
    assert counts["lstm"] == 4 * counts["rnn_tanh"]
    assert useful_flops("rnn_relu", "inference", 10, 32, 64) == counts["rnn_tanh"]


def test_training_is_three_forwards():
    assert useful_flops("gru", "training", 7, 5, 3) == 3 * useful_flops("gru", "inference", 7, 5, 3)


def test_deeper_layers_and_directions():
    # layer 0: I=10 -> H=20; layer 1 sees 2*H=40 inputs; each layer has 2 directions
    expected = 2 * (2 * 1 * 20 * (10 + 20)) + 2 * (2 * 1 * 20 * (40 + 20))
    assert useful_flops("rnn_tanh", "inference", 1, 10, 20, 2, True) == expected


def test_only_valid_tokens_count():
    assert useful_flops("lstm", "inference", 0, 8, 8) == 0
    assert useful_flops("lstm", "inference", 30, 8, 8) == 3 * useful_flops(
        "lstm", "inference", 10, 8, 8
    )


@pytest.mark.parametrize(("cell", "mode"), [("lstm2", "inference"), ("lstm", "eval")])
def test_unknown_names_are_refused(cell, mode):
    with pytest.raises(ValueError, match="unknown"):
        useful_flops(cell, mode, 1, 1, 1)


def test_an_absurd_layer_count_is_computed_not_looped_over():
    """A fuzzed case id with 10**15 layers once hung bench profile's size check."""
    from bench.cases import Case
    from bench.profile import case_bytes

    layers = 10**15
    # Per token and layer: 2 * G * H * (I_l + H) with G = 4, H = I = 1.
    assert useful_flops("lstm", "inference", 1, 1, 1, layers) == 16 * layers
    assert case_bytes(Case("lstm", "inference", "torch", 1, 1, 1, 1, layers)) > 0
