"""Parity with torch autograd over the whole configuration product, float64 and float32.

Errors are rnnref.relative_error (max abs difference over max abs of torch's value).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import rnnref
from tests.rnnref.torch_reference import build_torch, random_like_state, torch_forward_backward

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]
LENGTHS = {
    "none": None,
    "sorted": [5, 4, 2],
    "unsorted": [2, 4, 3],
}  # unsorted also stops short of T
TOLERANCES = {"float64": (1e-9, 1e-9), "float32": (1e-5, 1e-4)}  # (forward, gradients)
STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 5

CASES = list(
    itertools.product(
        CELLS, [1, 2, 3], [False, True], [True, False], [False, True], LENGTHS, [False, True]
    )
)


def case_id(case) -> str:
    cell, layers, bidirectional, bias, batch_first, lengths, given_hx = case
    return (
        f"{cell}-l{layers}-{'bi' if bidirectional else 'uni'}-{'bias' if bias else 'nobias'}"
        f"-{'bf' if batch_first else 'tf'}-len_{lengths}-{'hx' if given_hx else 'nohx'}"
    )


# Hidden sizes 1 and 2 (a (G*H, 1) weight's transpose is contiguous, which once let a
# forward write into W_hh): every cell, both directions, every lengths, two layers.
SMALL_HIDDEN_CASES = [
    (cell, hidden, bidirectional, lengths)
    for cell, hidden, bidirectional, lengths in itertools.product(
        CELLS, [1, 2], [False, True], LENGTHS
    )
    if not (cell == "lstm_proj" and hidden == 1)  # proj_size must be below hidden_size
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_parity_with_torch_autograd(case, dtype):
    cell, layers, bidirectional, bias, batch_first, lengths_name, given_hx = case
    index = CASES.index(case)
    check_parity(
        index, cell, HIDDEN, dtype, layers, bidirectional, bias, batch_first, lengths_name, given_hx
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "case", SMALL_HIDDEN_CASES, ids=["{}-h{}-{}-len_{}".format(*c) for c in SMALL_HIDDEN_CASES]
)
def test_parity_with_torch_autograd_at_hidden_sizes_1_and_2(case, dtype):
    cell, hidden, bidirectional, lengths_name = case
    index = SMALL_HIDDEN_CASES.index(case)
    check_parity(index, cell, hidden, dtype, 2, bidirectional, True, False, lengths_name, True)


def check_parity(
    seed, cell, hidden, dtype, layers, bidirectional, bias, batch_first, lengths_name, given_hx
):
    """One configuration against torch autograd: outputs, final states, every gradient."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = build_torch(
        cell,
        INPUT,
        hidden,
        getattr(torch, dtype),
        num_layers=layers,
        bidirectional=bidirectional,
        bias=bias,
        batch_first=batch_first,
    )
    model = rnnref.from_torch(module)
    assert model.dtype == np.dtype(dtype)

    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = rng.standard_normal(shape).astype(dtype)
    lengths = LENGTHS[lengths_name]
    hx = None
    if given_hx:
        stacked = layers * (2 if bidirectional else 1)
        h0 = rng.standard_normal((stacked, BATCH, model.output_size)).astype(dtype)
        hx = (
            (h0, rng.standard_normal((stacked, BATCH, hidden)).astype(dtype))
            if model.cell == "lstm"
            else h0
        )

    out, h_n = model(x, hx, lengths)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grad_hn = random_like_state(rng, h_n, dtype)
    grads = model.backward(grad_out, grad_hn)
    t_out, t_hn, t_params, t_input, t_hx = torch_forward_backward(
        module, x, hx, lengths, grad_out, grad_hn
    )

    forward_tol, grad_tol = TOLERANCES[dtype]
    assert out.dtype == np.dtype(dtype)
    assert out.shape == t_out.shape
    assert rnnref.relative_error(out, t_out) < forward_tol
    for ours, theirs in zip(_parts(h_n), _parts(t_hn), strict=True):
        assert rnnref.relative_error(ours, theirs) < forward_tol
    assert list(grads.params) == list(t_params)
    for name, grad in grads.params.items():
        assert grad.shape == t_params[name].shape, name
        assert rnnref.relative_error(grad, t_params[name]) < grad_tol, name
    assert rnnref.relative_error(grads.input, t_input) < grad_tol
    if given_hx:
        for ours, theirs in zip(_parts(grads.hx), _parts(t_hx), strict=True):
            assert rnnref.relative_error(ours, theirs) < grad_tol
    check_states_only_backward(model, grad_out, grad_hn, grads, layers, bidirectional)


def check_states_only_backward(model, grad_out, grad_hn, full, layers, bidirectional):
    """backward(params=False, input=False) skips those gradients and computes every
    state's gradient as the full backward does (its own parity is checked above)."""
    traced = [
        model.trace(layer, direction).grad_states
        for layer in range(layers)
        for direction in range(2 if bidirectional else 1)
    ]
    states_only = model.backward(grad_out, grad_hn, params=False, input=False)
    assert states_only.params == {} and states_only.input is None
    for ours, theirs in zip(_parts(states_only.hx), _parts(full.hx), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    again = [
        model.trace(layer, direction).grad_states
        for layer in range(layers)
        for direction in range(2 if bidirectional else 1)
    ]
    for ours, theirs in zip(again, traced, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    check_backward_from_end(model, h_n_shape=_parts(full.hx)[0].shape)


def check_backward_from_end(model, h_n_shape):
    """backward_from_end(layer, direction, g) gives that direction the dL/dh_t (and dL/dc_t)
    of a backward through every layer whose only gradient is g on its h_n."""
    rng = np.random.default_rng(7)
    for index in range(h_n_shape[0]):
        layer, direction = divmod(index, model.num_directions)
        grad_hn = np.zeros(h_n_shape, model.dtype)
        grad_hn[index] = rng.standard_normal(h_n_shape[1:])
        zeros_out = np.zeros_like(model.trace(model.num_layers - 1, 0).states)
        zeros_out = np.concatenate([zeros_out] * model.num_directions, axis=-1)
        if model.batch_first:
            zeros_out = zeros_out.swapaxes(0, 1)
        given = (grad_hn, None) if model.cell == "lstm" else grad_hn
        model.backward(zeros_out, given, params=False, input=False)
        through_all = model.trace(layer, direction)
        alone = model.backward_from_end(layer, direction, grad_hn[index])
        np.testing.assert_array_equal(alone.grad_states, through_all.grad_states)
        if model.cell == "lstm":
            np.testing.assert_array_equal(alone.grad_cells, through_all.grad_cells)


def _parts(state):
    return state if isinstance(state, tuple) else (state,)
