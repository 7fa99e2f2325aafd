"""The cell records (rnnref.CELL_TYPES): their step equals rnnref's fused loops and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnref
from rnnref.interop import torch_cell_type

REFERENCE_CELLS = [name for name, cell in rnnref.CELL_TYPES.items() if cell.reference_layer]
T, B, IN, H = 5, 3, 4, 6


def reference_layer(cell: rnnref.CellType, bias: bool = True) -> rnnref.RNNBase:
    layer = getattr(rnnref, cell.reference_layer)
    return layer(IN, H, bias=bias, dtype=np.float64, seed=3, **cell.torch_kwargs())


def run_steps(cell: rnnref.CellType, params: dict, x, ns=np):
    """The record's step over x (T, B, I) from zero state, computed by the namespace ``ns``:
    h and c (T of (B, H)) and each step's gates."""
    b_ih, b_hh = params.get("bias_ih_l0", 0), params.get("bias_hh_l0", 0)
    h = ns.zeros((x.shape[1], H), dtype=ns.float64)
    c = ns.zeros_like(h) if cell.cell_state else None
    states, cells, gates = [], [], []
    for x_t in x:
        xp = x_t @ params["weight_ih_l0"].T + b_ih
        hp = h @ params["weight_hh_l0"].T + b_hh
        step = cell.step(ns, xp, hp, h, c)
        h, c = step.h, step.c
        states.append(h)
        cells.append(c)
        gates.append(cell.gates(step))
    return states, cells, gates


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", REFERENCE_CELLS)
def test_the_step_equals_the_fused_loop_of_the_layer(name, bias):
    cell = rnnref.cell_type(name)
    model = reference_layer(cell, bias)
    assert model.cell_type is cell and model.gate_blocks == cell.gate_blocks
    x = np.random.default_rng(0).standard_normal((T, B, IN))
    model(x)
    trace = model.trace()
    states, cells, gates = run_steps(cell, model.params, x)
    np.testing.assert_allclose(np.stack(states), trace.states, rtol=1e-12, atol=1e-14)
    if cell.cell_state:
        np.testing.assert_allclose(np.stack(cells), trace.cells, rtol=1e-12, atol=1e-14)
    assert sorted(trace.gates) == sorted(cell.gate_names)
    for gate in cell.gate_names:
        want = trace.gates[gate]
        np.testing.assert_allclose(np.stack([g[gate] for g in gates]), want, atol=1e-14)


@pytest.mark.parametrize("name", REFERENCE_CELLS)
def test_the_step_equals_the_torch_cell_in_either_namespace(name):
    cell = rnnref.cell_type(name)
    torch.manual_seed(0)
    module = getattr(torch.nn, cell.torch_cell)(IN, H, dtype=torch.float64, **cell.torch_kwargs())
    assert torch_cell_type(module) is cell
    params = {k + "_l0": v.detach() for k, v in module.named_parameters()}
    x = torch.randn(T, B, IN, dtype=torch.float64)
    states, cells, _ = run_steps(cell, params, x, ns=torch)
    numpy_states, _, _ = run_steps(cell, {k: v.numpy() for k, v in params.items()}, x.numpy())
    module.requires_grad_(False)
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        if cell.cell_state:
            h, c = module(x[t], (h, c))
            torch.testing.assert_close(cells[t], c, rtol=1e-12, atol=1e-14)
        else:
            h = module(x[t], h)
        torch.testing.assert_close(states[t], h, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(numpy_states[t], h.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(rnnref.CELL_TYPES))
def test_flops_count_the_gate_gemms(name):
    cell = rnnref.cell_type(name)
    assert cell.flops_per_gate(IN, H) == 2 * H * (IN + H)
    assert cell.flops_per_step(IN, H) == cell.gate_blocks * cell.flops_per_gate(IN, H)


def test_an_unknown_cell_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown cell 'peephole'; expected one of rnn_tanh"):
        rnnref.cell_type("peephole")
