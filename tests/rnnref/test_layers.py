"""rnnref beyond the parity matrix: unbatched input, dropout, interop, traces, gradcheck, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnref
from tests.rnnref.torch_reference import build_torch, torch_forward_backward

F32 = np.float32  # the models' default dtype: inputs of another dtype are refused


def test_unbatched_input_matches_torch():
    torch.manual_seed(0)
    module = build_torch("lstm_proj", 4, 6, torch.float64, num_layers=2, bidirectional=True)
    model = rnnref.from_torch(module)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4))
    hx = (rng.standard_normal((4, 4)), rng.standard_normal((4, 6)))
    out, (h_n, c_n) = model(x, hx)
    assert out.shape == (7, 8) and h_n.shape == (4, 4) and c_n.shape == (4, 6)
    grad_out = rng.standard_normal(out.shape)
    grad_hn = (rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape))
    grads = model.backward(grad_out, grad_hn)
    t_out, t_hn, t_params, t_input, t_hx = torch_forward_backward(
        module, x, hx, None, grad_out, grad_hn
    )
    assert rnnref.relative_error(out, t_out) < 1e-12
    assert rnnref.relative_error(c_n, t_hn[1]) < 1e-12
    assert grads.input.shape == x.shape
    assert rnnref.relative_error(grads.input, t_input) < 1e-12
    assert rnnref.relative_error(grads.hx[1], t_hx[1]) < 1e-12
    assert max(rnnref.relative_error(grads.params[n], g) for n, g in t_params.items()) < 1e-12


def test_default_init_is_torchs_uniform_bound():
    model = rnnref.GRU(3, 16, num_layers=2, seed=1)
    bound = 1 / np.sqrt(16)
    for name, value in model.params.items():
        assert value.dtype == np.float32
        assert np.abs(value).max() <= bound, name
        assert np.abs(value).max() > 0.8 * bound, name  # really spread over the interval
    again = rnnref.GRU(3, 16, num_layers=2, seed=1)
    assert all(np.array_equal(again.params[n], v) for n, v in model.params.items())


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_dropout_between_layers_only_with_fixed_masks(cell):
    """A 3-layer model with dropout equals three 1-layer torch modules with the masks in between."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    module = build_torch(cell, 4, 5, torch.float64, num_layers=3, dropout=0.5, bidirectional=True)
    model = rnnref.from_torch(module)
    x = rng.standard_normal((6, 2, 4))
    masks = [(rng.random((6, 2, 10)) < 0.5) / 0.5 for _ in range(2)]
    out, h_n = model(x, dropout_masks=masks)

    singles = []
    layer_input = torch.tensor(x)
    for layer in range(3):
        single = build_torch(cell, layer_input.shape[-1], 5, torch.float64, bidirectional=True)
        state = {}
        for name, value in module.state_dict().items():
            if f"_l{layer}" in name:
                state[name.replace(f"_l{layer}", "_l0")] = value
        single.load_state_dict(state)
        if layer > 0:
            layer_input = layer_input * torch.tensor(masks[layer - 1])
        layer_input, state_n = single(layer_input)
        singles.append(state_n[0] if isinstance(state_n, tuple) else state_n)
    assert rnnref.relative_error(out, layer_input.detach()) < 1e-12
    expected_hn = torch.cat(singles).detach().numpy()
    ours_hn = h_n[0] if isinstance(h_n, tuple) else h_n
    assert rnnref.relative_error(ours_hn, expected_hn) < 1e-12  # h_n is never dropped


def test_dropout_draws_masks_in_training_and_none_in_eval():
    model = rnnref.LSTM(4, 8, num_layers=2, dropout=0.25, seed=3)
    x = np.ones((50, 16, 4), np.float32)
    model(x)
    (mask,) = model.dropout_masks
    assert mask.shape == (50, 16, 8)
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.03
    model.eval()
    out_a, _ = model(x)
    out_b, _ = model(x)
    assert model.dropout_masks is None and np.array_equal(out_a, out_b)


def test_interop_round_trip_and_state_dict_names():
    model = rnnref.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, seed=0)
    module = model.to_torch()
    assert isinstance(module, torch.nn.LSTM) and module.proj_size == 2
    assert list(module.state_dict()) == list(model.state_dict())
    for name, value in module.state_dict().items():
        assert np.array_equal(value.numpy(), model.params[name])
    back = rnnref.LSTM.from_torch(module, dtype=np.float64)
    assert back.dtype == np.float64 and repr(back).startswith("LSTM(3, 6, num_layers=2")
    with pytest.raises(ValueError, match=r"GRU\.from_torch needs a torch\.nn\.GRU"):
        rnnref.GRU.from_torch(module)


def test_param_suffix_spells_torchs_parameter_names():
    module = torch.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    expected = [
        kind + rnnref.param_suffix(layer, direction)
        for layer in range(2)
        for direction in range(2)
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    assert [name for name, _ in module.named_parameters()] == expected
    assert rnnref.param_suffix(1, 1) == "_l1_reverse"


def test_load_state_dict_reports_missing_unexpected_and_shapes():
    model = rnnref.RNN(3, 4)
    state = model.state_dict()
    state["weight_hh_l1"] = state.pop("weight_hh_l0")
    with pytest.raises(
        ValueError, match=r"missing keys \['weight_hh_l0'\], unexpected keys \['weight_hh_l1'\]"
    ):
        model.load_state_dict(state)
    state = model.state_dict()
    state["bias_ih_l0"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"bias_ih_l0 has shape \(5,\), expected \(4,\)"):
        model.load_state_dict(state)


def _manual_torch_steps(cell: str, module, x, h0):
    """Step a 1-layer torch module by hand, keeping every h_t (and c_t) to read their gradients."""
    w_ih, w_hh, b_ih, b_hh = (
        getattr(module, f"{n}_l0") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    h, c = h0, torch.zeros_like(h0)
    hs, cs, gates = [], [], []
    for t in range(x.shape[0]):
        if cell == "lstm":
            i, f, g, o = (x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            gates.append(torch.stack([i, f, g, o]))
            c.retain_grad()
            cs.append(c)
        elif cell == "gru":
            xr, xz, xn = (x[t] @ w_ih.T + b_ih).chunk(3, dim=1)
            hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, dim=1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            n = (xn + r * hn).tanh()
            h = (1 - z) * n + z * h
            gates.append(torch.stack([r, z, n]))
        else:
            h = (x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).tanh()
        h.retain_grad()
        hs.append(h)
    return hs, cs, gates


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_trace_exposes_states_gates_and_per_step_gradients(cell):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    module = build_torch(cell, 3, 4, torch.float64)
    model = rnnref.from_torch(module)
    x = rng.standard_normal((6, 2, 3))
    out, _ = model(x)
    grad_out = rng.standard_normal(out.shape)
    model.backward(grad_out)
    trace = model.trace(0, 0)

    hs, cs, gates = _manual_torch_steps(
        cell, module, torch.tensor(x), torch.zeros(2, 4, dtype=torch.float64)
    )
    (torch.stack(hs) * torch.tensor(grad_out)).sum().backward()
    assert np.allclose(trace.states, torch.stack(hs).detach().numpy(), atol=1e-12)
    assert np.allclose(trace.grad_states, torch.stack([h.grad for h in hs]).numpy(), atol=1e-12)
    assert trace.inputs.shape == (6, 2, 3) and trace.h0.shape == (2, 4) and trace.mask is None
    if cell == "lstm":
        assert np.allclose(trace.cells, torch.stack(cs).detach().numpy(), atol=1e-12)
        assert np.allclose(trace.grad_cells, torch.stack([c.grad for c in cs]).numpy(), atol=1e-12)
    if cell != "rnn_tanh":
        names = "ifgo" if cell == "lstm" else "rzn"
        assert list(trace.gates) == list(names)
        expected = torch.stack(gates).detach().numpy()  # (T, G, B, H)
        for k, name in enumerate(names):
            assert np.allclose(trace.gates[name], expected[:, k], atol=1e-12)
    else:
        assert trace.gates == {} and trace.cells is None and trace.grad_cells is None


def test_trace_of_reverse_direction_is_in_real_time_order_and_respects_lengths():
    model = rnnref.GRU(3, 4, bidirectional=True, batch_first=True, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    out, h_n = model(x, lengths=[5, 3])
    trace = model.trace(0, 1)
    assert np.array_equal(trace.mask, np.arange(5)[:, None] < np.array([5, 3]))
    assert np.array_equal(trace.states[0], h_n[1])  # reverse direction ends at t = 0
    assert np.array_equal(out[:, :, 4:].transpose(1, 0, 2)[:3, 1], trace.states[:3, 1])
    assert np.array_equal(
        trace.states[3:, 1], np.zeros((2, 4))
    )  # frozen at h0 before its last step
    assert trace.grad_states is None


@pytest.mark.parametrize(
    "factory",
    [
        lambda: rnnref.RNN(
            3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, dtype=np.float64, seed=1
        ),
        lambda: rnnref.LSTM(
            3, 5, num_layers=2, proj_size=3, batch_first=True, dtype=np.float64, seed=2
        ),
        lambda: rnnref.GRU(
            3, 4, num_layers=3, bias=False, bidirectional=True, dtype=np.float64, seed=3
        ),
        lambda: rnnref.LSTM(
            3, 4, num_layers=2, dropout=0.5, bidirectional=True, dtype=np.float64, seed=4
        ),
    ],
)
def test_finite_differences_agree_with_backward(factory):
    model = factory()
    rng = np.random.default_rng(0)
    shape = (3, 6, 3) if model.batch_first else (6, 3, 3)
    stacked = model.num_layers * model.num_directions
    h0 = rng.standard_normal((stacked, 3, model.output_size))
    hx = (h0, rng.standard_normal((stacked, 3, model.hidden_size))) if model.cell == "lstm" else h0
    errors = rnnref.gradcheck(model, rng.standard_normal(shape), hx, lengths=[6, 2, 4])
    assert set(errors) >= set(model.params) | {"input"}
    assert max(errors.values()) < 1e-6, errors


def test_float32_stays_float32_in_the_backward_cache():
    model = rnnref.LSTM(8, 16, num_layers=2, bidirectional=True)
    x = np.zeros((10, 4, 8), np.float32)
    out, _ = model(x, lengths=[10, 3, 5, 7])
    grads = model.backward(np.ones_like(out))
    trace = model.trace(1, 1)
    arrays = [
        trace.inputs,
        trace.states,
        trace.cells,
        trace.grad_states,
        trace.grad_cells,
        *trace.gates.values(),
    ]
    assert all(a.dtype == np.float32 for a in arrays)
    assert all(g.dtype == np.float32 for g in grads.params.values())


@pytest.mark.parametrize(
    ("make", "call", "message"),
    [
        (lambda: rnnref.GRU(3, 4, proj_size=2), None, "proj_size is only supported by LSTM"),
        (lambda: rnnref.RNN(3, 4, proj_size=2), None, "proj_size is only supported by LSTM"),
        (
            lambda: rnnref.RNN(3, 4, nonlinearity="sigmoid"),
            None,
            "nonlinearity must be 'tanh' or 'relu'",
        ),
        (
            lambda: rnnref.LSTM(3, 4, proj_size=4),
            None,
            "proj_size must be smaller than hidden_size, got proj_size=4 and hidden_size=4",
        ),
        (lambda: rnnref.LSTM(3, 0), None, "hidden_size must be an integer >= 1"),
        (lambda: rnnref.LSTM(3, 4, dropout=1.5), None, "dropout must be a probability"),
        (lambda: rnnref.LSTM(3, 4, dtype=np.int32), None, "dtype must be float32 or float64"),
        (
            lambda: rnnref.LSTM(3, 4),
            lambda m: m(np.zeros((5, 2, 7), F32)),
            r"x: expected input_size 3 in the last axis, got shape \(5, 2, 7\)",
        ),
        (
            lambda: rnnref.LSTM(3, 4),
            lambda m: m(np.zeros(5, F32)),
            r"x: expected a 3-D batch or a 2-D unbatched sequence, got shape \(5,\)",
        ),
        (
            lambda: rnnref.LSTM(3, 4),
            lambda m: m(np.zeros((5, 2, 3), F32), np.zeros((1, 2, 4), F32)),
            r"hx: an LSTM takes a tuple \(h0, c0\)",
        ),
        (
            lambda: rnnref.LSTM(3, 4),
            lambda m: m(
                np.zeros((5, 2, 3), F32), (np.zeros((1, 2, 4), F32), np.zeros((1, 3, 4), F32))
            ),
            r"hx\[1\] \(c0\): expected shape \(1, 2, 4\), got \(1, 3, 4\)",
        ),
        (
            lambda: rnnref.GRU(3, 4, num_layers=2),
            lambda m: m(np.zeros((5, 2, 3), F32), np.zeros((1, 2, 4), F32)),
            r"hx: expected shape \(2, 2, 4\), got \(1, 2, 4\)",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: m(np.zeros((5, 2, 3), F32), lengths=[5, 6]),
            r"lengths: each must be in \[1, 5\].*max 6",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: m(np.zeros((5, 2, 3), F32), lengths=[0, 5]),
            r"lengths: each must be in \[1, 5\].*min 0",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: m(np.zeros((5, 2, 3), F32), lengths=[5, 5, 5]),
            r"lengths: expected 2 integers \(one per sequence\).*shape \(3,\)",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: m(np.zeros((5, 3), F32), lengths=[5]),
            "lengths: not supported for unbatched",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: m.backward(np.zeros((5, 2, 4), F32)),
            "backward: no forward pass",
        ),
        (
            lambda: rnnref.GRU(3, 4),
            lambda m: (m(np.zeros((5, 2, 3), F32)), m.backward(np.zeros((5, 2, 8), F32))),
            r"grad_out: expected the shape of out \(5, 2, 4\)",
        ),
        (lambda: rnnref.GRU(3, 4), lambda m: m.trace(), "trace: no forward pass"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, call, message):
    with pytest.raises(ValueError, match=message):
        model = make()
        call(model)


WIDENED_LAYERS = {
    "rnn_tanh": lambda dtype: rnnref.RNN(3, 5, num_layers=2, bidirectional=True, dtype=dtype),
    "rnn_relu": lambda dtype: rnnref.RNN(3, 5, nonlinearity="relu", num_layers=2, dtype=dtype),
    "lstm": lambda dtype: rnnref.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=dtype),
    "lstm_proj": lambda dtype: rnnref.LSTM(3, 5, proj_size=2, bidirectional=True, dtype=dtype),
    "gru": lambda dtype: rnnref.GRU(3, 5, num_layers=2, bidirectional=True, dtype=dtype),
}


@pytest.mark.parametrize("kind", WIDENED_LAYERS)
def test_a_widened_model_runs_float64_backwards_on_the_float32_trajectory(kind):
    narrow = WIDENED_LAYERS[kind](np.float32).eval()
    exact = WIDENED_LAYERS[kind](np.float64).eval()
    exact.load_state_dict(narrow.params)
    rng = np.random.default_rng(0)
    x, lengths = rng.standard_normal((9, 4, 3)), np.array([9, 4, 7, 1])
    out, _ = narrow(x.astype(np.float32), None, lengths)
    exact(x, None, lengths)
    wide = narrow.widened()
    grad_out = rng.standard_normal(out.shape)
    grads, expected = wide.backward(grad_out), exact.backward(grad_out)
    assert wide.dtype == np.float64 and narrow.dtype == np.float32
    np.testing.assert_allclose(grads.input, expected.input, rtol=1e-4, atol=1e-6)
    for name, value in grads.params.items():
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected.params[name], rtol=1e-4, atol=1e-6)
    for key in [(layer, d) for layer in range(wide.num_layers) for d in range(wide.num_directions)]:
        # the trajectory is the float32 one, exactly; the end pass runs in float64
        np.testing.assert_array_equal(wide.trace(*key).states, narrow.trace(*key).states)
        end = rng.standard_normal((4, wide.output_size))
        ours, theirs = wide.backward_from_end(*key, end), exact.backward_from_end(*key, end)
        assert ours.grad_states.dtype == np.float64
        np.testing.assert_allclose(ours.grad_states, theirs.grad_states, rtol=1e-4, atol=1e-6)
    # the float32 model keeps its own cache and dtype
    assert narrow.backward(grad_out.astype(np.float32)).input.dtype == np.float32
