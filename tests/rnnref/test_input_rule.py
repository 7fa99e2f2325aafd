"""rnnref's input rule is torch's (DESIGN "rnnref: public API"), and a forward never
changes the parameters. Each case was checked against what torch 2.13 does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnref
from tests.rnnref.torch_reference import build_torch, torch_forward_backward

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru")


def make(cell: str, hidden: int, **kwargs) -> rnnref.RNNBase:
    """A seeded float64 rnnref layer of one of the five cell names, input size 2."""
    kwargs.update(dtype=np.float64, seed=0)
    if cell.startswith("rnn_"):
        return rnnref.RNN(2, hidden, nonlinearity=cell[4:], **kwargs)
    if cell.startswith("lstm"):
        return rnnref.LSTM(2, hidden, proj_size=hidden - 1 if cell == "lstm_proj" else 0, **kwargs)
    return rnnref.GRU(2, hidden, **kwargs)


def test_gru_hidden_size_1_forward_twice_gives_the_same_output():
    model = rnnref.GRU(1, 1, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 1))
    first, _ = model(x)
    second, _ = model(x)
    assert np.array_equal(first, second)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("hidden", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_backward_never_change_the_parameters(cell, hidden, layers):
    if cell == "lstm_proj" and hidden == 1:
        pytest.skip("proj_size must be smaller than hidden_size")
    model = make(cell, hidden, num_layers=layers, bidirectional=layers == 2)
    before = model.state_dict()
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    outputs = []
    for lengths in (None, [4, 2, 3], None):
        out, _ = model(x, lengths=lengths)
        assert all(np.array_equal(model.params[n], v) for n, v in before.items())
        model.backward(np.ones_like(out))
        assert all(np.array_equal(model.params[n], v) for n, v in before.items())
        outputs.append(out)
    assert np.array_equal(outputs[0], outputs[2])
