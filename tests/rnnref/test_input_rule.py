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


# ----------------------------------------------------------------- what torch accepts


@pytest.mark.parametrize("given_hx", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_zero_size_batch_gives_empty_outputs_and_a_working_backward(cell, given_hx):
    torch.manual_seed(0)
    module = build_torch(cell, 2, 3, torch.float64, num_layers=2, bidirectional=True)
    model = rnnref.from_torch(module)
    x = np.zeros((4, 0, 2))
    hx = None
    if given_hx:
        h0 = np.zeros((4, 0, model.output_size))
        hx = (h0, np.zeros((4, 0, 3))) if model.cell == "lstm" else h0
    out, h_n = model(x, hx)
    grad_hn = tuple(np.zeros_like(p) for p in h_n) if isinstance(h_n, tuple) else h_n.copy()
    grads = model.backward(np.zeros_like(out), grad_hn)
    t_out, t_hn, t_params, t_input, t_hx = torch_forward_backward(
        module, x, hx, None, np.zeros_like(out), grad_hn
    )
    assert out.shape == t_out.shape == (4, 0, 2 * model.output_size)
    for ours, theirs in zip(_parts(h_n), _parts(t_hn), strict=True):
        assert ours.shape == theirs.shape
    assert grads.input.shape == t_input.shape == x.shape
    for name, grad in grads.params.items():
        assert np.array_equal(grad, t_params[name]), name  # all zero
    if given_hx:
        for ours, theirs in zip(_parts(grads.hx), _parts(t_hx), strict=True):
            assert ours.shape == theirs.shape


@pytest.mark.parametrize("lengths", [[3.0, 2.0], np.array([3.0, 2.0]), np.array([3, 2], np.int32)])
def test_integral_lengths_of_any_numeric_type_mean_what_int_lengths_mean(lengths):
    model = rnnref.GRU(2, 3, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    expected, expected_hn = model(x, lengths=[3, 2])
    out, h_n = model(x, lengths=lengths)
    assert np.array_equal(out, expected) and np.array_equal(h_n, expected_hn)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_backward_of_a_loss_on_h_n_only(cell):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    module = build_torch(cell, 2, 3, torch.float64, num_layers=2)
    model = rnnref.from_torch(module)
    x = rng.standard_normal((5, 2, 2))
    out, h_n = model(x)
    grad_hn = (
        (rng.standard_normal(h_n[0].shape), None)
        if isinstance(h_n, tuple)
        else rng.standard_normal(h_n.shape)
    )
    grads = model.backward(None, grad_hn)
    torch_grad_hn = (grad_hn[0], np.zeros_like(h_n[1])) if isinstance(grad_hn, tuple) else grad_hn
    _, _, t_params, t_input, _ = torch_forward_backward(
        module, x, None, None, np.zeros_like(out), torch_grad_hn
    )
    assert rnnref.relative_error(grads.input, t_input) < 1e-12
    for name, grad in grads.params.items():
        assert rnnref.relative_error(grad, t_params[name]) < 1e-12, name


def test_tensors_that_require_grad_are_read_as_their_values():
    torch.manual_seed(0)
    module = build_torch("lstm", 2, 3, torch.float64)
    model = rnnref.from_torch(module)
    rng = np.random.default_rng(0)
    x, h0, c0 = (rng.standard_normal(s) for s in ((4, 2, 2), (1, 2, 3), (1, 2, 3)))
    expected, _ = model(x, (h0, c0))
    as_tensors = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    x_t, h0_t, c0_t = as_tensors
    out, _ = model(x_t, (h0_t, c0_t))
    assert np.array_equal(out, expected)
    grads = model.backward(torch.ones(out.shape, dtype=torch.float64, requires_grad=True))
    assert grads.input.shape == x.shape


def test_load_state_dict_takes_a_torch_modules_named_parameters():
    torch.manual_seed(0)
    module = build_torch("gru", 2, 3, torch.float32, num_layers=2, bidirectional=True)
    model = rnnref.GRU(2, 3, num_layers=2, bidirectional=True)
    model.load_state_dict(dict(module.named_parameters()))
    for name, value in module.state_dict().items():
        assert np.array_equal(model.params[name], value.numpy()), name


def test_from_torch_converts_a_bfloat16_module_when_dtype_is_given():
    torch.manual_seed(0)
    module = torch.nn.LSTM(2, 3, dtype=torch.bfloat16)
    model = rnnref.from_torch(module, dtype=np.float64)
    assert model.dtype == np.float64
    for name, value in module.state_dict().items():
        assert np.array_equal(model.params[name], value.double().numpy()), name


# ----------------------------------------------------------------- what torch refuses


@pytest.mark.parametrize(
    "dtype", [np.int64, np.bool_, np.float16, np.float64, np.complex64, "torch_float64"]
)
def test_an_input_of_another_dtype_than_the_weights_is_refused(dtype):
    model = rnnref.LSTM(2, 3, seed=0)  # float32
    x = torch.zeros(4, 2, 2, dtype=torch.float64) if dtype == "torch_float64" else None
    if x is None:
        x = np.zeros((4, 2, 2), dtype)
    with pytest.raises(ValueError, match=r"^x: dtype .* differs from the weights' float32"):
        model(x)


@pytest.mark.parametrize(
    ("make", "hx", "name"),
    [
        (lambda: rnnref.GRU(2, 3), np.zeros((1, 2, 3)), r"hx"),
        (lambda: rnnref.RNN(2, 3), np.zeros((1, 2, 3), np.int64), r"hx"),
        (
            lambda: rnnref.LSTM(2, 3),
            (np.zeros((1, 2, 3)), np.zeros((1, 2, 3), np.float32)),
            r"hx\[0\] \(h0\)",
        ),
        (
            lambda: rnnref.LSTM(2, 3),
            (np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 3), np.float16)),
            r"hx\[1\] \(c0\)",
        ),
        (
            lambda: rnnref.GRU(2, 3, dtype=np.float64),
            torch.zeros(1, 2, 3, requires_grad=True),
            r"hx",
        ),
    ],
)
def test_a_state_of_another_dtype_than_the_weights_is_refused(make, hx, name):
    model = make()
    x = np.zeros((4, 2, 2), model.dtype)
    with pytest.raises(ValueError, match=rf"^{name}: dtype .* differs from the weights'"):
        model(x, hx)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_from_torch_refuses_a_half_precision_module_without_dtype(dtype):
    module = torch.nn.GRU(2, 3, dtype=dtype)
    with pytest.raises(ValueError, match=r"pass dtype=np\.float32 or np\.float64"):
        rnnref.from_torch(module)


@pytest.mark.parametrize("dropout", ["0.5", None, [0.5]])
def test_a_dropout_that_is_not_a_number_is_refused(dropout):
    with pytest.raises(ValueError, match=r"^dropout must be a probability in \[0, 1\]"):
        rnnref.LSTM(2, 3, num_layers=2, dropout=dropout)


@pytest.mark.parametrize("state", [[("weight_ih_l0", np.zeros((3, 2)))], "weights", None])
def test_a_state_dict_that_is_not_a_mapping_is_refused(state):
    with pytest.raises(ValueError, match=r"^state_dict: expected a mapping of parameter names"):
        rnnref.RNN(2, 3).load_state_dict(state)


@pytest.mark.parametrize("lengths", [[2.5, 2.0], [True, True]])
def test_lengths_that_are_not_integers_are_refused(lengths):
    model = rnnref.GRU(2, 3)
    with pytest.raises(ValueError, match=r"^lengths: expected 2 integers"):
        model(np.zeros((3, 2, 2), np.float32), lengths=lengths)


def test_lengths_with_a_zero_size_batch_are_refused_as_torch_refuses_to_pack_them():
    with pytest.raises(ValueError, match=r"^lengths: "):
        rnnref.GRU(2, 3)(np.zeros((3, 0, 2), np.float32), lengths=[])


def _parts(state):
    return state if isinstance(state, tuple) else (state,)
