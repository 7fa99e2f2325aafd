"""A cell type registered in one place (rnnref.CELL_TYPES) reaches every reader.

The toy cell is a minimal gated unit (Zhou et al. 2016), f = sigmoid(x_f + h_f),
n = tanh(x_n + f h_n), h_t = (1 - f) h_{t-1} + f n: two gate blocks and no torch
class, so the benchmark enumerates it and skips its rows with a reason.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import rnnref
from bench import flops
from bench.cases import Case, parse_case_id, parse_shape
from bench.presets import get_preset
from bench.torchmods import unbuildable_reason
from diagnostics.probes import saturation, spectrum
from rnnref import steps


def minimal_gated_unit(ns, xp, hp, h, c=None) -> rnnref.Step:
    xf, xn = steps.split(xp, 2)
    hf, hn = steps.split(hp, 2)
    f = steps.sigmoid(ns, xf + hf)
    n = ns.tanh(xn + f * hn)
    return rnnref.Step((1 - f) * h + f * n, None, (f, n))


TOY = rnnref.CellType(
    name="mgu",
    blocks=(rnnref.Block("f", "sigmoid"), rnnref.Block("n", "tanh")),
    step=minimal_gated_unit,
    torch_layer=None,
    torch_cell=None,
    reference_layer=None,
    state_activation="tanh",
    forget_gate="f",
)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> rnnref.CellType:
    monkeypatch.setitem(rnnref.CELL_TYPES, TOY.name, TOY)
    return TOY


def test_the_toy_cell_reaches_the_benchmark_matrix(toy):
    rows = [case for case in get_preset("quick").cases if case.cell == "mgu"]
    assert {case.backend for case in rows} >= {"numpy", "torch"}
    assert {case.mode for case in rows} == {"inference", "training"}
    assert all(parse_case_id(case.id) == case for case in rows)
    assert parse_shape("mgu-b2-t3-i4-h5-l1-uni")["cell"] == "mgu"
    reason = unbuildable_reason("mgu")
    assert reason is not None and "torch.nn has no layer" in reason
    assert unbuildable_reason("lstm") is None


def test_the_toy_cell_is_refused_once_unregistered():
    with pytest.raises(ValueError, match="cell must be one of"):
        Case("mgu", "inference", "numpy", 2, 3, 4, 5)
    with pytest.raises(ValueError, match="malformed case id"):
        parse_case_id("mgu-inference-numpy-b2-t3-i4-h5-l1-uni-padded-f1")


def test_the_toy_cell_reaches_the_flop_counts(toy):
    assert flops.useful_flops("mgu", "inference", 10, 4, 5) == 10 * 2 * 2 * 5 * (4 + 5)
    assert flops.useful_flops("mgu", "training", 10, 4, 5, 2, True) == 3 * 10 * 2 * (
        2 * 2 * 5 * (4 + 5) + 2 * 2 * 5 * (10 + 5)
    )
    assert "2 mgu" in flops.convention()


def test_the_probes_read_the_toy_cells_gates(toy):
    rng = np.random.default_rng(0)
    hidden, batch, num_steps = 4, 3, 6
    w_ih, w_hh = rng.standard_normal((2 * hidden, 2)), rng.standard_normal((2 * hidden, hidden))
    h, states, gates = np.zeros((batch, hidden)), [], []
    for x in rng.standard_normal((num_steps, batch, 2)):
        step = toy.step(np, x @ w_ih.T, h @ w_hh.T, h, None)
        h = step.h
        states.append(h)
        gates.append(toy.gates(step))
    trace = SimpleNamespace(
        states=np.stack(states),
        gates={name: np.stack([g[name] for g in gates]) for name in toy.gate_names},
        mask=None,
    )
    sat = saturation.saturation(trace, "mgu")
    assert list(sat["gates"]) == ["f", "n"]
    assert (
        sat["gates"]["f"]["activation"] == "sigmoid" and sat["gates"]["n"]["activation"] == "tanh"
    )
    assert sat["mean_forget"] == pytest.approx(trace.gates["f"].mean())
    assert sat["units"] is not None
    assert saturation.dead_units_of(trace, "mgu") is None
    spec = spectrum.recurrent_spectrum(w_hh, "mgu")
    assert {gate: block["bound"] for gate, block in spec["blocks"].items()} == {"f": 4.0, "n": 1.0}
    top = np.linalg.svd(w_hh[:hidden], compute_uv=False)[0]
    assert spec["blocks"]["f"]["sigma_max"] == pytest.approx(top)
