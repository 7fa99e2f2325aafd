"""Property: on a random configuration rnnref equals torch autograd to 1e-9 in float64.

A configuration is a cell (tanh or ReLU RNN, LSTM with or without projection, GRU),
1-3 layers, one or two directions, sizes from 1, a batch from 0, lengths sorted,
unsorted or none, batch_first, bias and an initial state or none. Examples per run:
the hypothesis profile (tests/conftest.py; HYPOTHESIS_PROFILE=fuzz for many).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnref
from tests.rnnref.torch_reference import TORCH_CLASSES, torch_forward_backward

TOL = 1e-9  # DESIGN: float64, outputs, states and gradients


@st.composite
def configurations(draw: st.DrawFn) -> dict:
    cell = draw(st.sampled_from(sorted(TORCH_CLASSES)))
    hidden = draw(st.integers(2 if cell == "lstm_proj" else 1, 6))
    batch = draw(st.integers(0, 4))
    steps = draw(st.integers(1, 5))
    lengths = None
    if batch and draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
        if draw(st.booleans()):
            lengths.sort(reverse=True)
    kwargs = {
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    if cell.startswith("rnn_"):
        kwargs["nonlinearity"] = cell[4:]
    if cell == "lstm_proj":
        kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    return {
        "cell": cell,
        "input_size": draw(st.integers(1, 5)),
        "hidden_size": hidden,
        "kwargs": kwargs,
        "batch": batch,
        "steps": steps,
        "lengths": lengths,
        "given_hx": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@given(configurations())
def test_random_configuration_agrees_with_torch_autograd(config):
    torch.manual_seed(config["seed"])
    rng = np.random.default_rng(config["seed"])
    kwargs = config["kwargs"]
    module = TORCH_CLASSES[config["cell"]](
        config["input_size"], config["hidden_size"], dtype=torch.float64, **kwargs
    )
    model = rnnref.from_torch(module)
    batch, steps = config["batch"], config["steps"]
    shape = (batch, steps) if kwargs["batch_first"] else (steps, batch)
    x = rng.standard_normal((*shape, config["input_size"]))
    stacked = model.num_layers * model.num_directions
    hx = None
    if config["given_hx"]:
        h0 = rng.standard_normal((stacked, batch, model.output_size))
        c0 = rng.standard_normal((stacked, batch, model.hidden_size))
        hx = (h0, c0) if model.cell == "lstm" else h0

    out, h_n = model(x, hx, config["lengths"])
    grad_out = rng.standard_normal(out.shape)
    grad_hn = (
        tuple(rng.standard_normal(part.shape) for part in h_n)
        if isinstance(h_n, tuple)
        else rng.standard_normal(h_n.shape)
    )
    grads = model.backward(grad_out, grad_hn)
    t_out, t_hn, t_params, t_input, t_hx = torch_forward_backward(
        module, x, hx, config["lengths"], grad_out, grad_hn
    )

    pairs = [(out, t_out), (grads.input, t_input)]
    pairs += list(zip(_parts(h_n), _parts(t_hn), strict=True))
    pairs += [(grads.params[name], grad) for name, grad in t_params.items()]
    if hx is not None:
        pairs += list(zip(_parts(grads.hx), _parts(t_hx), strict=True))
    assert list(grads.params) == list(t_params)
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape
        assert rnnref.relative_error(ours, theirs) < TOL


def _parts(state):
    return state if isinstance(state, tuple) else (state,)
