"""rnnref on PyTorch's own RNN test surface, checked against torch autograd in float64.

The input configurations (not the code) of pytorch's test/test_nn.py RNN tests
(_test_RNN_cpu_vs_cudnn, test_rnn_args_check, test_projections_lstm_args_check,
test_rnn_initial_hidden_state, test_projections_lstm_initial_hidden_state,
test_RNN_dropout, test_RNN_input_size_zero, test_error_RNN_seq_len_zero,
test_projections_errors_on_gru_and_rnn, test_LSTM/GRU_grad_and_gradgrad,
test_variable_sequence, test_RNN_nonlinearity) and of
torch/testing/_internal/common_modules.py's ModuleInfo samples for nn.RNN, nn.GRU
and nn.LSTM (module_inputs_torch_nn_RNN_GRU with packed sequences,
module_inputs_torch_nn_LSTM), plus the shapes of d2l's character-level language
models. Where torch computes, rnnref must agree to DESIGN's tolerance (outputs,
final states and every gradient); where torch refuses, rnnref refuses with a
ValueError.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import rnnref
from tests.rnnref.torch_reference import torch_forward_backward

FORWARD_TOL, GRAD_TOL = 1e-9, 1e-9  # DESIGN: float64
CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass(frozen=True)
class Case:
    """One configuration: the torch constructor's arguments and how the layer is called.

    ``x_shape`` is in the module's layout ((T, I) unbatched); ``hx`` says whether an
    initial state is given; ``lstm_c_offset`` adds 1 to c0 and to dL/dc_n as
    _test_RNN_cpu_vs_cudnn does; ``noncontiguous`` passes strided views.
    """

    name: str
    cell: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    x_shape: tuple = ()
    hx: bool = False
    lengths: tuple | None = None
    lengths_as_tensor: bool = False
    noncontiguous: bool = False
    value_range: float | None = None  # uniform(-r, r) as make_tensor draws; None: N(0, 1)
    dtype: str = "float64"


def _cpu_vs_cudnn_cases() -> list[Case]:
    """_test_RNN_cpu_vs_cudnn: input 10, hidden 6, 2 layers, T 7, batch 6, lengths 7 5 5 2 1 1."""
    cases = []
    flags = list(itertools.product((True, False), repeat=6))
    for cell, proj in (("rnn", 0), ("lstm", 0), ("gru", 0), ("lstm", 3)):
        for bias, bidirectional, batch_first, contig, variable_len, as_tensor in flags:
            kwargs = {"bias": bias, "bidirectional": bidirectional, "batch_first": batch_first}
            if proj:
                kwargs["proj_size"] = proj
            name = f"cpu_vs_cudnn-{cell}{'_proj' if proj else ''}-" + "-".join(
                f"{k}{int(v)}"
                for k, v in zip(
                    ("bias", "bi", "bf", "contig", "varlen", "lentensor"),
                    (bias, bidirectional, batch_first, contig, variable_len, as_tensor),
                    strict=True,
                )
            )
            cases.append(
                Case(
                    name,
                    cell,
                    (10, 6, 2),
                    kwargs,
                    (6, 7, 10) if batch_first else (7, 6, 10),
                    hx=True,
                    lengths=(7, 5, 5, 2, 1, 1) if variable_len else None,
                    lengths_as_tensor=as_tensor,
                    noncontiguous=not contig,
                )
            )
    for nonlinearity in ("tanh", "relu"):  # its closing loop: one direction, bias False
        kwargs = {"bias": False, "nonlinearity": nonlinearity}
        cases.append(
            Case(f"cpu_vs_cudnn-rnn_{nonlinearity}", "rnn", (10, 6, 2), kwargs, (7, 6, 10), True)
        )
    return cases


def _module_info_cases() -> list[Case]:
    """common_modules.py: unbatched samples (2 layers, values in [-9, 9]) and packed ones."""
    cases = []
    for cell in ("rnn", "gru"):
        nonlinearities = ("relu", "tanh") if cell == "rnn" else (None,)
        for nl, bias, batch_first, bidirectional in itertools.product(
            nonlinearities, (False, True), (False, True), (False, True)
        ):
            kwargs = {"num_layers": 2, "batch_first": batch_first, "bias": bias}
            kwargs["bidirectional"] = bidirectional
            if nl:
                kwargs["nonlinearity"] = nl
            tag = f"module_info-{cell}{'_' + nl if nl else ''}-bias{int(bias)}"
            tag += f"-bf{int(batch_first)}-bi{int(bidirectional)}"
            cases.append(Case(f"{tag}-unbatched", cell, (2, 2), kwargs, (3, 2), value_range=9))
            cases.append(
                Case(f"{tag}-unbatched_h0", cell, (2, 3), kwargs, (3, 2), True, value_range=9)
            )
            for lengths in ((5, 3), (5, 3, 3, 2, 2)):  # packed from a time-major (5, B, 2)
                batch = len(lengths)
                shape = (batch, 5, 2) if batch_first else (5, batch, 2)
                cases.append(
                    Case(
                        f"{tag}-packed_b{batch}",
                        cell,
                        (2, 2),
                        kwargs,
                        shape,
                        lengths=lengths,
                        value_range=9,
                    )
                )
    for bias, batch_first, bidirectional, proj in itertools.product(
        (False, True), (False, True), (False, True), (0, 2)
    ):
        kwargs = {"num_layers": 2, "proj_size": proj, "batch_first": batch_first, "bias": bias}
        kwargs["bidirectional"] = bidirectional
        tag = f"module_info-lstm-bias{int(bias)}-bf{int(batch_first)}-bi{int(bidirectional)}"
        tag += f"-proj{proj}"
        cases.append(Case(f"{tag}-unbatched", "lstm", (2, 3), kwargs, (2, 2), value_range=9))
        cases.append(
            Case(f"{tag}-unbatched_h0", "lstm", (2, 3), kwargs, (3, 2), True, value_range=9)
        )
    return cases


def _other_cases() -> list[Case]:
    """test_nn.py's remaining computing configurations, and d2l's language models."""
    cases = [
        Case(f"initial_hidden_state-{cell}", cell, (30, 20, 2), {}, (10, 32, 30), True)
        for cell in ("rnn", "gru", "lstm")
    ]
    cases += [
        Case(
            f"projections_initial_hidden_state-bi{int(bi)}",
            "lstm",
            (30, 20, 2),
            {"bidirectional": bi, "proj_size": 10},
            (10, 32, 30),
            True,
        )
        for bi in (False, True)
    ]
    cases += [
        Case(f"input_size_zero-{cell}", cell, (), {"input_size": 3, "hidden_size": 4}, (5, 0, 3))
        for cell in ("rnn", "lstm", "gru")
    ]
    cases += [  # torch.rand: values in [0, 1)
        Case(f"grad_and_gradgrad-{cell}-bias{int(b)}", cell, (4, 4), {"bias": b}, (1, 3, 4))
        for cell in ("lstm", "gru")
        for b in (True, False)
    ]
    cases.append(
        Case(
            "variable_sequence-lstm",
            "lstm",
            (3, 4),
            {"bidirectional": True, "num_layers": 2},
            (10, 7, 3),
            lengths=(10, 10, 6, 2, 2, 1, 1),
        )
    )
    cases += [
        Case("nonlinearity-default", "rnn", (1, 10), {}, (4, 2, 1)),
        Case("nonlinearity_passed_as_arg", "rnn", (2, 3, 1, "relu"), {}, (4, 2, 2)),
    ]
    # d2l's language models (chapter_recurrent-modern): vocab 28 one-hot, 35 steps, 256
    # hidden, float32; batch 4 rather than d2l's 32 to keep the suite fast
    for name, cell, kwargs in (
        ("rnn", "rnn", {}),
        ("gru", "gru", {}),
        ("lstm", "lstm", {}),
        ("deep_lstm", "lstm", {"num_layers": 2}),
        ("bi_lstm", "lstm", {"bidirectional": True}),
    ):
        cases.append(Case(f"d2l-{name}", cell, (28, 256), kwargs, (35, 4, 28), dtype="float32"))
    return cases


PARITY_CASES = _cpu_vs_cudnn_cases() + _module_info_cases() + _other_cases()
TOLERANCES = {"float64": (FORWARD_TOL, GRAD_TOL), "float32": (1e-5, 1e-4)}


def _strided(array: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view (test_nn.py's make_noncontig)."""
    return np.stack([np.zeros_like(array), array], axis=-1)[..., 1]


def _inputs(case: Case, module: nn.RNNBase, rng: np.random.Generator) -> dict[str, Any]:
    """x, hx, lengths and the loss weights grad_out, grad_hn for ``case``, as numpy."""

    def draw(shape):
        if case.name.startswith("grad_and_gradgrad"):
            values = rng.random(shape)
        elif case.name.startswith("d2l"):
            values = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        elif case.value_range is not None:
            values = rng.uniform(-case.value_range, case.value_range, shape)
        else:
            values = rng.standard_normal(shape)
        values = values.astype(case.dtype)
        return _strided(values) if case.noncontiguous else values

    x = draw(case.x_shape)
    unbatched = len(case.x_shape) == 2
    batch_axis = 0 if module.batch_first else 1
    batch = () if unbatched else (case.x_shape[batch_axis],)
    stacked = module.num_layers * (2 if module.bidirectional else 1)
    is_lstm = isinstance(module, nn.LSTM)
    h_size = module.proj_size or module.hidden_size
    h_shape = (stacked, *batch, h_size)
    c_shape = (stacked, *batch, module.hidden_size)
    hx = None
    if case.hx:
        h0 = draw(h_shape)
        if is_lstm:
            hx = (
                (h0, h0 + 1)
                if case.name.startswith("cpu_vs_cudnn") and not module.proj_size
                else (
                    h0,
                    draw(c_shape) + (1 if case.name.startswith("cpu_vs_cudnn") else 0),
                )
            )
        else:
            hx = h0
    steps = case.x_shape[1 if module.batch_first and not unbatched else 0]
    directions = 2 if module.bidirectional else 1
    out_shape = list(case.x_shape)
    out_shape[-1] = directions * h_size
    grad_out = draw(tuple(out_shape))
    if case.lengths is not None:  # packed: padded steps carry no gradient
        valid = (np.arange(steps)[:, None] < np.array(case.lengths)[None, :]).astype(case.dtype)
        grad_out = grad_out * (valid.T if module.batch_first else valid)[..., None]
    grad_h = draw(h_shape)
    grad_hn = (grad_h, draw(c_shape) + 1) if is_lstm else grad_h
    return {"x": x, "hx": hx, "lengths": case.lengths, "grad_out": grad_out, "grad_hn": grad_hn}


def _parts(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("case", PARITY_CASES, ids=[c.name for c in PARITY_CASES])
def test_agrees_with_torch_autograd_on_torchs_test_surface(case):
    index = PARITY_CASES.index(case)
    torch.manual_seed(index)
    module = CLASSES[case.cell](*case.args, **case.kwargs, dtype=getattr(torch, case.dtype))
    model = rnnref.from_torch(module)
    data = _inputs(case, module, np.random.default_rng(index))
    lengths = data["lengths"]
    if lengths is not None and case.lengths_as_tensor:
        lengths = torch.tensor(lengths, dtype=torch.long)

    out, h_n = model(data["x"], data["hx"], lengths)
    grads = model.backward(data["grad_out"], data["grad_hn"])
    t_out, t_hn, t_params, t_input, t_hx = torch_forward_backward(
        module, data["x"], data["hx"], data["lengths"], data["grad_out"], data["grad_hn"]
    )

    forward_tol, grad_tol = TOLERANCES[case.dtype]
    assert out.shape == t_out.shape
    assert rnnref.relative_error(out, t_out) < forward_tol
    for ours, theirs in zip(_parts(h_n), _parts(t_hn), strict=True):
        assert ours.shape == theirs.shape
        assert rnnref.relative_error(ours, theirs) < forward_tol
    assert list(grads.params) == list(t_params)
    for name, grad in grads.params.items():
        assert rnnref.relative_error(grad, t_params[name]) < grad_tol, name
    assert grads.input.shape == t_input.shape
    assert rnnref.relative_error(grads.input, t_input) < grad_tol
    if data["hx"] is not None:
        for ours, theirs in zip(_parts(grads.hx), _parts(t_hx), strict=True):
            assert rnnref.relative_error(ours, theirs) < grad_tol


def test_zero_initial_state_equals_no_initial_state():
    """test_rnn_initial_hidden_state and its projected-LSTM twin, on rnnref alone."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 32, 30))
    for model in (
        rnnref.RNN(30, 20, 2, dtype=np.float64, seed=0),
        rnnref.GRU(30, 20, 2, dtype=np.float64, seed=0),
        rnnref.LSTM(30, 20, 2, dtype=np.float64, seed=0),
        rnnref.LSTM(30, 20, 2, proj_size=10, bidirectional=True, dtype=np.float64, seed=0),
    ):
        stacked = model.num_layers * model.num_directions
        h0 = np.zeros((stacked, 32, model.output_size))
        hx = (h0, np.zeros((stacked, 32, 20))) if model.cell == "lstm" else h0
        given, given_hn = model(x, hx)
        default, default_hn = model(x)
        assert np.array_equal(given, default)
        for a, b in zip(_parts(given_hn), _parts(default_hn), strict=True):
            assert np.array_equal(a, b)


# ----------------------------------------------------------------- what torch refuses


def _bad_shape_cases() -> list[tuple[str, str, tuple, dict, tuple, Any]]:
    """test_rnn_args_check and test_projections_lstm_args_check: input 3, hidden 5, 2
    layers, batch 4, T 6, a bad size of 7 in one axis at a time."""

    def with_size(shape, axis, size):
        return tuple(size if i == axis else s for i, s in enumerate(shape))

    x_ok, h_ok = (6, 4, 3), (2, 4, 5)
    cases = []
    for cell in ("rnn", "gru", "lstm"):
        for what, x_shape, h_shape in (
            ("input_batch", with_size(x_ok, 1, 7), h_ok),
            ("hidden_batch", x_ok, with_size(h_ok, 1, 7)),
            ("input_size", with_size(x_ok, 2, 7), h_ok),
            ("hidden_size", x_ok, with_size(h_ok, 2, 7)),
            ("hidden_layers", x_ok, with_size(h_ok, 0, 7)),
        ):
            if cell != "lstm":
                cases.append((f"args_check-{cell}-{what}", cell, (3, 5, 2), {}, x_shape, h_shape))
            elif h_shape == h_ok:
                cases.append(
                    (f"args_check-lstm-{what}", cell, (3, 5, 2), {}, x_shape, (h_ok, h_ok))
                )
            else:
                for position, hx in (("h0", (h_shape, h_ok)), ("c0", (h_ok, h_shape))):
                    name = f"args_check-lstm-{what}-{position}"
                    cases.append((name, cell, (3, 5, 2), {}, x_shape, hx))
    proj = {"proj_size": 2}
    hp_ok, c_ok = (2, 4, 2), (2, 4, 5)
    for what, x_shape, hx in (
        ("input_batch", with_size(x_ok, 1, 7), (hp_ok, c_ok)),
        ("hidden_batch", x_ok, (with_size(hp_ok, 1, 7), with_size(c_ok, 1, 7))),
        ("input_size", with_size(x_ok, 2, 7), (hp_ok, c_ok)),
        ("hidden_size", x_ok, (with_size(hp_ok, 2, 7), with_size(c_ok, 2, 7))),
        ("hidden_layers", x_ok, (with_size(hp_ok, 0, 7), with_size(c_ok, 0, 7))),
        ("h0_layers_hidden_size", x_ok, (with_size(hp_ok, 0, 5), c_ok)),
        ("h0_layers_bad", x_ok, (with_size(hp_ok, 0, 7), c_ok)),
        ("c0_layers_bad", x_ok, (hp_ok, with_size(c_ok, 0, 7))),
    ):
        cases.append((f"projections_args_check-{what}", "lstm", (3, 5, 2), proj, x_shape, hx))
    for cell in ("rnn", "lstm", "gru"):  # test_error_RNN_seq_len_zero
        for bi in (True, False):
            name = f"seq_len_zero-{cell}-bi{int(bi)}"
            cases.append((name, cell, (5, 6), {"bidirectional": bi}, (0, 10, 5), None))
    return cases


BAD_SHAPE_CASES = _bad_shape_cases()


@pytest.mark.parametrize(
    ("name", "cell", "args", "kwargs", "x_shape", "hx_shape"),
    BAD_SHAPE_CASES,
    ids=[c[0] for c in BAD_SHAPE_CASES],
)
def test_refuses_what_torch_refuses(name, cell, args, kwargs, x_shape, hx_shape):
    module = CLASSES[cell](*args, **kwargs, dtype=torch.float64)
    model = rnnref.from_torch(module)
    x = np.zeros(x_shape)
    if hx_shape is None:
        hx = None
    elif isinstance(hx_shape[0], tuple):
        hx = tuple(np.zeros(shape) for shape in hx_shape)
    else:
        hx = np.zeros(hx_shape)
    torch_hx = None if hx is None else _parts_to_torch(hx)
    with pytest.raises(RuntimeError):
        module(torch.from_numpy(x), torch_hx)
    with pytest.raises(ValueError, match=r"^(x|hx|hx\[0\] \(h0\)|hx\[1\] \(c0\)): "):
        model(x, hx)


def _parts_to_torch(hx):
    return tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)


@pytest.mark.parametrize("cls", [rnnref.RNN, rnnref.GRU])
def test_projections_are_refused_on_gru_and_rnn(cls):
    with pytest.raises(ValueError, match="proj_size is only supported by LSTM"):
        cls(30, 20, 2, proj_size=10)


# ----------------------------------------------------------------- dropout


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("p", [0, 0.276, 0.731, 1])
def test_dropout_sits_between_layers_and_scales_by_the_kept_fraction(p, train):
    """test_RNN_dropout: a 2-layer ReLU RNN with all weights 1 on ones(1, 1, 10)."""
    model = rnnref.RNN(10, 1000, 2, "relu", bias=False, dropout=p, dtype=np.float64, seed=0)
    model.load_state_dict({name: np.ones_like(value) for name, value in model.params.items()})
    model.train(train)
    out, h_n = model(np.ones((1, 1, 10)), np.zeros((2, 1, 1000)))
    assert out.min() == out.max()
    value = out[0, 0, 0]
    if p == 0 or not train:
        assert value == 10000
    elif p == 1:
        assert value == 0
    else:
        assert 8000 < value < 12000
        denormalized = (value * (1 - p)) % 10
        assert min(denormalized, 10 - denormalized) < 1e-2
    assert h_n[0].min() == h_n[0].max() == 10
    assert h_n[1].min() == h_n[1].max() == value


def test_nonlinearity_defaults_to_tanh_and_comes_fourth():
    """test_RNN_nonlinearity and test_RNN_nonlinearity_passed_as_arg."""
    assert rnnref.RNN(1, 10).nonlinearity == "tanh"
    assert rnnref.RNN(1, 10, nonlinearity="relu").nonlinearity == "relu"
    assert rnnref.RNN(2, 3, 1, "relu").nonlinearity == "relu"
