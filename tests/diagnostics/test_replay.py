"""Capture hooks and the rnnref replay agree with torch on every layer kind and layout."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnref
from diagnostics.capture import Capture, probe_mode
from diagnostics.probes import spectrum
from diagnostics.replay import end_gradient, replay, short_check, torch_float64_grad
from tests.diagnostics import stepref


class Wrapper(nn.Module):
    """Embeds a recurrent layer like user code does: packed or not, with or without hx."""

    def __init__(self, rnn, packed=False, with_hx=False, unbatched=False):
        super().__init__()
        self.pre = nn.Linear(5, 5)
        self.rnn = rnn
        self.packed, self.with_hx, self.unbatched = packed, with_hx, unbatched

    def forward(self, x):
        x = torch.tanh(self.pre(x))
        if self.unbatched:
            x = x[0] if self.rnn.batch_first else x[:, 0]
        hx = None
        if self.with_hx:
            layers = self.rnn.num_layers * (2 if self.rnn.bidirectional else 1)
            size = self.rnn.proj_size or self.rnn.hidden_size
            batch = () if self.unbatched else (x.shape[0 if self.rnn.batch_first else 1],)
            h0 = 0.3 * torch.ones(layers, *batch, size)
            hx = (
                (h0, 0.2 * torch.ones(layers, *batch, self.rnn.hidden_size))
                if isinstance(self.rnn, nn.LSTM)
                else h0
            )
        if self.packed:
            lengths = torch.tensor([7, 3, 5, 7])
            x = pack_padded_sequence(x, lengths, self.rnn.batch_first, enforce_sorted=False)
            out, h_n = self.rnn(x, hx)
            out = pad_packed_sequence(out, self.rnn.batch_first)[0]
        else:
            out, h_n = self.rnn(x, hx)
        h_last = h_n[0] if isinstance(h_n, tuple) else h_n
        return out.sum(dim=-1, keepdim=True) * 0.5 + h_last[-1].sum()


LAYERS = {
    "rnn_tanh": lambda **kw: nn.RNN(5, 6, **kw),
    "rnn_relu": lambda **kw: nn.RNN(5, 6, nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(5, 6, **kw),
    "lstm_proj": lambda **kw: nn.LSTM(5, 6, proj_size=3, **kw),
    "gru": lambda **kw: nn.GRU(5, 6, **kw),
}


def captured(model, x):
    with probe_mode(model), Capture(model) as cap:
        y = model(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        cap.finish()
    return cap


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize(
    "layout",
    ["plain", "batch_first", "packed", "packed_batch_first", "hx", "bidi_2layer", "unbatched"],
)
def test_replay_matches_torchs_input_gradient(kind, layout):
    torch.manual_seed(0)
    kw = {"batch_first": "batch_first" in layout}
    if layout == "bidi_2layer":
        kw.update(num_layers=2, bidirectional=True)
    rnn = LAYERS[kind](**kw)
    model = Wrapper(
        rnn,
        packed="packed" in layout,
        with_hx=layout in ("hx", "unbatched"),
        unbatched=layout == "unbatched",
    )
    x = torch.randn(4, 7, 5) if rnn.batch_first else torch.randn(7, 4, 5)
    cap = captured(model, x)
    call = cap.layers["rnn"]
    assert call.packed == ("packed" in layout)
    rep = replay(call, seed=0)
    assert rep.dtype == "float32"  # float32 agrees, so the float64 replay is not needed
    assert rep.agreement is not None and rep.agreement < 1e-4  # rnnref's float32 parity bound
    assert rep.trusted
    torch_grad = torch_float64_grad(
        call.module, call.x, call.hx, call.lengths, call.grad_out, call.grad_hn
    )
    np.testing.assert_allclose(torch_grad, call.grad_input, rtol=1e-4, atol=1e-6)
    assert short_check(call, seed=0) < 1e-9
    directions = 2 if rnn.bidirectional else 1
    assert rep.keys == [(i, d) for i in range(rnn.num_layers) for d in range(directions)]
    for key in rep.keys:
        trace = rep.traces[key]
        assert trace.grad_states.shape == rep.end_states[key].shape
        # Each layer's end pass starts from a unit vector per sequence on its final state.
        if call.lengths is None:
            final = rep.end_states[key][0 if key[1] else -1]
            np.testing.assert_allclose(np.linalg.norm(final, axis=-1), 1.0, rtol=1e-6)


def test_replay_falls_back_to_float64_when_float32_overflows():
    # A ReLU RNN with W_hh = 1.9 I: over 150 steps a gradient grows 1.9^150 = 1e42, past
    # float32's 3e38, while the forward (tiny inputs) stays finite.
    torch.manual_seed(0)
    rnn = nn.RNN(5, 6, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(1.9 * torch.eye(6))
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.zero_()
    x = 1e-30 * torch.rand(150, 4, 5)
    model = nn.Sequential(rnn)
    with probe_mode(model), Capture(model) as cap:
        out, _ = model(x)
        out[-1].sum().backward()
        cap.finish()
    rep = replay(cap.layers["0"], seed=0)
    assert rep.dtype == "float64"
    assert np.all(np.isfinite(rep.end_states[(0, 0)]))
    assert np.linalg.norm(rep.end_states[(0, 0)][0], axis=-1).max() > 1e39


def test_end_passes_run_on_a_subset_of_long_batches():
    torch.manual_seed(3)
    rnn = nn.GRU(5, 6, num_layers=2)
    cap = captured(Wrapper(rnn, packed=False), torch.randn(9, 20, 5))
    rep = replay(cap.layers["rnn"], seed=0)
    assert rep.traces[(1, 0)].states.shape == (9, 20, 6)
    assert rep.end_states[(1, 0)].shape == (9, 8, 6) and rep.end_mask is None


def test_hooks_record_only_the_first_call_and_count_the_rest():
    rnn = nn.GRU(5, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(self.rnn(x[..., :5])[0].repeat(1, 1, 2)[..., :5])[0]

    cap = captured(Twice(), torch.randn(6, 2, 5))
    assert cap.layers["rnn"].calls == 2
    assert replay(cap.layers["rnn"], 0).trusted


def test_probe_mode_restores_training_flags_and_dropout():
    model = nn.Sequential(nn.Dropout(0.5), nn.LSTM(3, 4, num_layers=2, dropout=0.3))
    model.train()
    with probe_mode(model):
        assert not model[0].training and model[1].dropout == 0.0
    assert model[0].training and model[1].training and model[1].dropout == 0.3


@pytest.mark.parametrize("kind", LAYERS)
def test_step_functions_reproduce_the_trajectory(kind):
    torch.manual_seed(1)
    rnn = LAYERS[kind](num_layers=2, bidirectional=True)
    cap = captured(Wrapper(rnn, packed=True), torch.randn(7, 4, 5))
    rep = replay(cap.layers["rnn"], 0)
    tolerance = {"float32": 1e-6, "float64": 1e-12}[rep.dtype]
    for layer, direction in rep.keys:
        trace = rep.traces[(layer, direction)]
        step = stepref.step_function(rep.model, layer, direction)
        steps, seqs = np.nonzero(trace.mask)
        prev = spectrum.previous_states(trace, bool(direction), steps, seqs).astype(np.float64)
        inputs = trace.inputs[steps, seqs].astype(np.float64)
        xp = stepref.input_projection(rep.model, inputs, layer, direction)
        for i, (t, b) in enumerate(zip(steps, seqs, strict=True)):
            state = step(torch.from_numpy(prev[i]), torch.from_numpy(xp[i])).numpy()
            want = trace.states[t, b]
            if trace.cells is not None:
                want = np.concatenate([want, trace.cells[t, b]])
            np.testing.assert_allclose(state, want, atol=tolerance)


JACOBIAN_TOL = {"float32": 1e-6, "float64": 1e-12}
"""Relative error allowed between the closed-form step Jacobians and autograd's through the
torch step: both read the same float32 states, the closed form with the activations the
replay computed in float32 (round-off 6e-8), autograd recomputing them in float64."""


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", LAYERS)
def test_step_jacobians_match_autograd_through_the_torch_step(kind, dtype):
    torch.manual_seed(3)
    model = Wrapper(LAYERS[kind](num_layers=2, bidirectional=True), packed=True).to(dtype)
    cap = captured(model, torch.randn(7, 4, 5, dtype=dtype))
    rep = replay(cap.layers["rnn"], 0)
    for layer, direction in rep.keys:
        trace = rep.traces[(layer, direction)]
        steps, seqs = np.nonzero(trace.mask)
        prev = spectrum.previous_states(trace, bool(direction), steps, seqs).astype(np.float64)
        inputs = trace.inputs[steps, seqs].astype(np.float64)
        xp = stepref.input_projection(rep.model, inputs, layer, direction)
        step = stepref.step_function(rep.model, layer, direction)
        want = vmap(jacrev(step))(torch.from_numpy(prev), torch.from_numpy(xp)).numpy()
        got = spectrum.step_jacobians(rep.model, trace, layer, direction, steps, seqs)
        assert got.shape == want.shape
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= JACOBIAN_TOL[rep.dtype] * scale
        exact = np.linalg.norm(want, 2, axis=(1, 2))  # the full SVD of each Jacobian
        norms = spectrum.step_jacobian_norms(rep.model, trace, layer, direction, seed=0)
        assert norms["samples"] == len(steps)  # every valid pair (fewer than 32)
        assert norms["mean"] == pytest.approx(exact.mean(), rel=JACOBIAN_TOL[rep.dtype] * 10)
        assert norms["max"] == pytest.approx(exact.max(), rel=JACOBIAN_TOL[rep.dtype] * 10)


def _hard_matrices(size: int) -> np.ndarray:
    """Matrices whose top singular values Lanczos finds slowly or where it breaks down: all
    singular values equal, rank one, a Gaussian matrix (its top values crowd together), a
    top value 1e-6 above the next, and zero."""
    rng = np.random.default_rng(size)
    u, _ = np.linalg.qr(rng.standard_normal((size, size)))
    v, _ = np.linalg.qr(rng.standard_normal((size, size)))
    close = u @ np.diag(np.r_[1.0 + 1e-6, np.linspace(1.0, 0.1, size - 1)]) @ v.T
    return np.stack(
        [
            0.5 * np.eye(size),
            np.outer(rng.standard_normal(size), rng.standard_normal(size)),
            rng.standard_normal((size, size)),
            close,
            np.zeros((size, size)),
        ]
    )


@pytest.mark.parametrize("size", [1, 2, 6, 64, 512])
def test_lanczos_spectral_norms_equal_the_full_svd_on_hard_matrices(size):
    matrices = _hard_matrices(size)
    exact = np.linalg.norm(matrices, 2, axis=(1, 2))
    got = spectrum.spectral_norms(matrices, np.random.default_rng(0))
    assert got == pytest.approx(exact, rel=1e-9, abs=1e-300)


def test_step_jacobian_norm_is_exact_for_a_linear_recurrence():
    """ReLU RNN with every unit active: J = W_hh, its norm is the largest singular value."""
    torch.manual_seed(2)
    rnn = nn.RNN(5, 6, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.abs_()  # with h >= 0 and a large bias every pre-activation is > 0
        rnn.bias_ih_l0.fill_(10.0)
    cap = captured(Wrapper(rnn), torch.randn(7, 4, 5))
    rep = replay(cap.layers["rnn"], 0)
    norms = spectrum.step_jacobian_norms(rep.model, rep.traces[(0, 0)], 0, 0, seed=0)
    sigma = np.linalg.norm(rnn.weight_hh_l0.detach().double().numpy(), 2)
    assert norms["mean"] == pytest.approx(sigma, rel=1e-9)
    assert norms["samples"] == 28


def test_step_jacobian_norm_of_a_non_finite_layer_is_none():
    torch.manual_seed(4)
    rnn = nn.RNN(5, 6, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0[1, 2] = float("inf")
    cap = captured(Wrapper(rnn), torch.randn(7, 4, 5))
    rep = replay(cap.layers["rnn"], 0)
    norms = spectrum.step_jacobian_norms(rep.model, rep.traces[(0, 0)], 0, 0, seed=0)
    assert norms == {"mean": None, "max": None, "samples": 0}


def test_end_passes_run_in_float64_beside_a_float32_real_pass():
    # Small weights: a gradient from the end fades about 3-fold per step, to 1e-70 over
    # 200 steps, past float32's smallest subnormal (1.4e-45; float32 arithmetic is slow
    # there, then zero); float64 still holds it, and the real pass stays float32.
    torch.manual_seed(0)
    rnn = nn.LSTM(5, 6)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.05)
        rnn.weight_ih_l0.mul_(0.05)
    cap = captured(Wrapper(rnn), torch.randn(200, 4, 5))
    rep = replay(cap.layers["rnn"], seed=0)
    assert rep.dtype == "float32"
    assert rep.traces[(0, 0)].grad_states.dtype == np.float32
    first = np.linalg.norm(rep.end_states[(0, 0)][0], axis=-1)
    assert rep.end_states[(0, 0)].dtype == np.float64 and rep.end_cells[(0, 0)].dtype == np.float64
    assert np.all((first > 0) & (first < 1e-50)), first


class LastStepClassifier(nn.Module):
    """The tutorial classifier: a linear head on the last step's output only."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


def test_a_loss_that_reads_only_the_last_step_is_replayed_in_float64():
    # Its gradient enters at one step and fades back through the others: in float32 it
    # would reach the slow subnormal range on long sequences, so float32 is not tried.
    torch.manual_seed(0)
    cap = captured(LastStepClassifier(), torch.randn(4, 30, 5))
    call = cap.layers["lstm"]
    assert call.output_gradient_steps() == 1 and call.steps == 30
    rep = replay(call, seed=0)
    assert rep.dtype == "float64" and rep.trusted


@pytest.mark.parametrize("layout", ["plain", "batch_first", "packed", "hx", "bidi_2layer"])
def test_a_narrowed_call_replays_as_its_sequences_did_in_the_whole_batch(layout):
    """The watch replays a few sequences of each sampled batch: theirs are the same
    states and real gradients as in the whole batch's replay, and torch agrees."""
    torch.manual_seed(0)
    kw = {"batch_first": layout == "batch_first"}
    if layout == "bidi_2layer":
        kw.update(num_layers=2, bidirectional=True)
    rnn = nn.LSTM(5, 6, **kw)
    model = Wrapper(rnn, packed=layout == "packed", with_hx=layout == "hx")
    x = torch.randn(4, 7, 5) if rnn.batch_first else torch.randn(7, 4, 5)
    call = captured(model, x).layers["rnn"]
    keep = np.array([1, 3])
    narrow = call.narrowed(keep)
    assert (call.batch, narrow.batch) == (4, 2)
    whole, part = replay(call, seed=0), replay(narrow, seed=0)
    assert part.trusted
    for key in whole.keys:
        for field in ("states", "grad_states"):
            np.testing.assert_allclose(
                getattr(part.traces[key], field),
                getattr(whole.traces[key], field)[:, keep],
                rtol=1e-5,
                atol=1e-7,
            )


def test_the_end_passes_of_a_small_float64_replay_reuse_its_forward():
    """A call of at most END_SEQUENCES sequences replayed in float64 has its end passes
    on the replay's own forward: the same as on a fresh float64 copy of the layer."""
    torch.manual_seed(0)
    cap = captured(LastStepClassifier(), torch.randn(4, 30, 5))
    call = cap.layers["lstm"]
    rep = replay(call, seed=0)
    assert rep.dtype == "float64"
    fresh = rnnref.from_torch(call.module, dtype=np.float64).eval()
    _, (h_n, _) = fresh(call.x, call.hx, call.lengths)
    expected = fresh.backward_from_end(0, 0, end_gradient(h_n, 0, 0)).grad_states
    np.testing.assert_array_equal(rep.end_states[(0, 0)], expected)
