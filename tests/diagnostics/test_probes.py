"""Probe arithmetic on hand-made arrays: curves, horizon, saturation, dead units, spikes."""

import numpy as np
import pytest

import rnnref
from diagnostics.probes import gradtime, nonfinite, saturation, stats, training
from diagnostics.probes.spectrum import recurrent_spectrum


def geometric(rate, steps, batch=3, hidden=4, lengths=None, reverse=False):
    """dL/dh with norm rate**k at k steps back from each sequence's end; (T, B, H)."""
    grad = np.zeros((steps, batch, hidden))
    lengths = lengths if lengths is not None else [steps] * batch
    for b, length in enumerate(lengths):
        for k in range(length):
            t = k if reverse else length - 1 - k
            grad[t, b, 0] = rate**k
    mask = None if lengths == [steps] * batch else np.arange(steps)[:, None] < np.array(lengths)
    return grad, mask


@pytest.mark.parametrize("reverse", [False, True])
def test_end_curve_aligns_sequences_by_their_own_end(reverse):
    grad, mask = geometric(0.5, 12, lengths=[12, 5, 9], reverse=reverse)
    curve = gradtime.end_curve(grad, mask, reverse)
    np.testing.assert_allclose(curve, 0.5 ** np.arange(12))
    summary = gradtime.summarize(curve)
    assert summary["decay_per_step"] == pytest.approx(0.5)
    assert summary["horizon"] == 10  # 0.5**10 < 1e-3 < 0.5**9
    assert summary["growth"] == 1.0


def test_growth_and_horizon_not_reached():
    grad, _ = geometric(1.5, 20)
    summary = gradtime.summarize(gradtime.end_curve(grad, None, False))
    assert summary["horizon"] is None
    assert summary["growth"] == pytest.approx(1.5**19)
    assert summary["decay_per_step"] == pytest.approx(1.5)


def test_gradient_that_stops_dead():
    grad, _ = geometric(0.5, 10)
    grad[:-2] = 0.0  # nothing passes beyond one step back
    summary = gradtime.summarize(gradtime.end_curve(grad, None, False))
    assert summary["horizon"] == 2 and summary["decay_per_step"] == pytest.approx(0.5)
    zero = gradtime.summarize(gradtime.end_curve(np.zeros((5, 2, 3)), None, False))
    assert zero["horizon"] == 0 and zero["growth"] == 0.0
    assert gradtime.summarize(np.array([1.0, np.nan]))["horizon"] is None


def test_real_curve_is_the_norm_per_step():
    grad = np.ones((3, 2, 2))
    grad[1] *= 3
    assert gradtime.real_curve(grad) == [2.0, 6.0, 2.0]


def trace(states, gates=None, cells=None, mask=None):
    steps, batch, hidden = states.shape
    return rnnref.LayerTrace(
        inputs=np.zeros((steps, batch, 1)),
        h0=np.zeros((batch, hidden)),
        c0=None,
        states=states,
        cells=cells,
        gates=gates or {},
        mask=mask,
        grad_states=None,
        grad_cells=None,
    )


def test_gate_saturation_fractions():
    values = np.full((10, 2, 5), 0.5)
    values[:3] = 0.001  # 30% below 0.01
    values[3:5] = 0.95  # 20% above 0.9, not above 0.99
    gates = {name: values for name in "ifgo"}
    gates["g"] = np.tanh(values * 20)  # |g| > 0.99 where values >= 0.5
    sat = saturation.saturation(trace(np.zeros((10, 2, 5)), gates), "lstm")
    f = sat["gates"]["f"]
    assert f["low_hard"] == pytest.approx(0.3) and f["high_hard"] == 0.0
    assert f["hard"] == pytest.approx(0.3) and f["soft"] == pytest.approx(0.5)
    assert sat["mean_forget"] == pytest.approx(values.mean())
    assert sat["gates"]["g"]["hard"] == pytest.approx(0.7)
    assert sat["units"] is None
    assert sum(f["histogram"]["counts"]) == 100


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0), (-0.3, 2.7)])
def test_histogram_counts_as_numpy_does(low, high):
    """One gate of (T, B, 4H) activations: a strided view, longer than a chunk, with NaN
    and Inf left out and values beyond [low, high] clipped into the end bins."""
    rng = np.random.default_rng(5)
    gates = (rng.random((90, 16, 4 * 64), dtype=np.float32) * 1.4 - 0.2) * (high - low) + low
    values = gates[..., 64:128]
    values[3, 4, 5], values[7, 1, 2] = np.nan, -np.inf
    finite = values[np.isfinite(values)].astype(np.float64)
    want, edges = np.histogram(np.clip(finite, low, high), bins=20, range=(low, high))
    got = stats.histogram(values, low, high)
    assert got["counts"] == want.tolist()
    np.testing.assert_allclose(got["edges"], edges)
    assert got["num"] == finite.size
    assert (got["min"], got["max"]) == (finite.min(), finite.max())
    assert got["sum"] == pytest.approx(finite.sum(), rel=1e-12)
    assert got["sum_squares"] == pytest.approx(np.square(finite).sum(), rel=1e-12)


def test_histogram_of_no_finite_value_is_empty():
    got = stats.histogram(np.full((3, 2), np.nan), 0.0, 1.0)
    assert got["counts"] == [0] * 20 and got["num"] == 0 and got["min"] is None


def test_tanh_units_and_masked_steps():
    states = np.full((4, 2, 3), 0.995)
    states[:, 1] = 0.1
    mask = np.array([[True, True], [True, True], [False, True], [False, True]])
    sat = saturation.saturation(trace(states, mask=mask), "rnn_tanh")
    assert sat["units"]["hard"] == pytest.approx(2 / 6)  # 2 valid steps of sequence 0, of 6


def test_dead_units_never_fire_on_valid_steps():
    states = np.zeros((5, 3, 4))
    states[:, :, 0] = 1.0
    states[2, 1, 1] = 0.5
    states[4, 0, 2] = 2.0  # fires only past sequence 0's length
    mask = np.arange(5)[:, None] < np.array([3, 5, 5])
    dead = saturation.dead_units(trace(states, mask=mask))
    assert dead["units"] == [2, 3] and dead["fraction"] == 0.5


def test_first_non_finite_step_in_processing_order():
    values = np.ones((6, 2, 3))
    values[2, 1, 0] = np.nan
    values[4, 0, 0] = np.inf
    assert nonfinite.first_step(values, reverse=False) == 2
    assert nonfinite.first_step(values, reverse=True) == 4
    assert nonfinite.first_step(np.ones((3, 1, 1)), reverse=False) is None


def test_spectrum_blocks_and_bounds():
    w = np.zeros((12, 3))
    w[0:3] = 2 * np.eye(3)  # i
    w[3:6] = 0.5 * np.eye(3)  # f
    spec = recurrent_spectrum(w, "lstm")
    assert list(spec["blocks"]) == ["i", "f", "g", "o"]
    assert spec["blocks"]["i"]["sigma_max"] == pytest.approx(2.0)
    assert spec["blocks"]["i"]["bound"] == 4.0 and spec["blocks"]["g"]["bound"] == 1.0
    assert spec["blocks"]["f"]["below_bound"] is True
    assert recurrent_spectrum(np.full((3, 3), np.nan), "rnn_tanh") == {
        "finite": False,
        "blocks": {},
    }


def test_loss_spikes_and_clip_suggestion():
    assert training.loss_spikes([1.0, 0.9, 0.8, 0.7, 3.0, 0.6]) == [4]
    assert training.loss_spikes([1.0, 5.0]) == []
    summary = training.summarize([1.0, 0.8, 0.7], [1.0, 2.0, 6.0], None, 0.1, 3, False)
    assert summary["suggested_clip"] == pytest.approx(3.0)
    assert summary["clip_fraction"] == pytest.approx(1 / 3)
    assert summary["max_over_median_norm"] == pytest.approx(3.0)
    bad = training.summarize([1.0, float("nan")], [1.0, 2.0], None, 0.1, 5, False)
    assert bad["first_nonfinite_step"] == 1 and bad["losses"] == [1.0, None]
