"""Hand-written cell loops (nn.RNNCell, nn.LSTMCell, nn.GRUCell stepped in Python) are probed
through time from the loop's own autograd graph, checked against a hand-stepped loop."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnref
from diagnostics import cellprobe, diagnose
from diagnostics.objective import projection_objective
from reports.findingsfile import validate
from rnnref.interop import torch_cell_type

CELL_CLASSES = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}


class CharRNN(nn.Module):
    """A char-RNN as the tutorials write it: embed each character, step the cell, predict."""

    def __init__(self, cell="RNNCell", vocab=30, hidden=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, 12)
        self.cell = CELL_CLASSES[cell](12, hidden)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, text):
        state = None
        logits = []
        for t in range(text.size(1)):
            state = self.cell(self.embed(text[:, t]), state)
            h = state[0] if isinstance(state, tuple) else state
            logits.append(self.decoder(h))
        return torch.stack(logits, dim=1)


def hand_stepped(model, text, seed):
    """(real ||dL/dh_t|| per step, end curve) from a hand-stepped loop with retain_grad."""
    hs = []
    state = None
    logits = []
    for t in range(text.size(1)):
        state = model.cell(model.embed(text[:, t]), state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
        logits.append(model.decoder(h))
    out = torch.stack(logits, dim=1)
    model.zero_grad()
    projection_objective(out.detach(), seed).loss(out).backward(retain_graph=True)
    real = [float(h.grad.double().norm()) for h in hs]
    u = np.random.default_rng(seed).standard_normal(hs[-1].shape)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    for h in hs:
        h.grad = None
    (hs[-1] * torch.from_numpy(u).float()).sum().backward()
    norms = np.array([h.grad.double().norm(dim=-1).numpy() for h in hs])  # (T, B)
    rms = np.sqrt(np.mean(norms[::-1] ** 2, axis=1))
    return real, rms / rms[0]


@pytest.mark.parametrize("cell", sorted(CELL_CLASSES))
def test_cell_loop_probe_matches_a_hand_stepped_loop(cell):
    torch.manual_seed(1)
    model = CharRNN(cell).eval()
    text = torch.randint(0, 30, (6, 25))
    doc = diagnose(model, text, target_label="t", input_label="t", seed=3)
    validate(doc)
    (module,) = doc["modules"]
    assert module["type"] == cell and module["calls"] == 25
    (record,) = doc["probes"]["recurrent"]
    real, end = hand_stepped(model, text, 3)
    np.testing.assert_allclose(record["grad_states_norm"], real, rtol=1e-6)
    np.testing.assert_allclose(record["end_curve"], end, rtol=1e-6)
    assert record["spectrum"]["finite"] and record["steps"] == 25
    assert "repeated-calls" not in {f["code"] for f in doc["findings"]}


def test_exploding_rnn_cell_loop_is_an_error():
    torch.manual_seed(0)
    model = CharRNN("RNNCell")
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(24, 24))
        model.cell.weight_hh.copy_(4.0 * q)
    doc = diagnose(model, torch.randint(0, 30, (8, 40)), target_label="t", input_label="t")
    errors = {f["code"] for f in doc["findings"] if f["severity"] == "error"}
    assert "exploding-gradient" in errors
    (finding,) = [f for f in doc["findings"] if f["code"] == "exploding-gradient"]
    assert finding["module"] == "cell" and "loop of 40 steps" in finding["summary"]


def test_gru_cell_decoder_with_attention_is_listed_and_probed():
    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.GRU(8, 16, batch_first=True)
            self.decoder = nn.GRUCell(16 + 16, 16)
            self.out = nn.Linear(16, 8)

        def forward(self, src, steps=6):
            enc, h = self.encoder(src)
            h = h[0]
            y = torch.zeros(src.size(0), 16)
            outs = []
            for _ in range(steps):
                scores = torch.softmax((enc @ h.unsqueeze(-1)).squeeze(-1), dim=1)
                context = (scores.unsqueeze(-1) * enc).sum(1)
                h = self.decoder(torch.cat([y, context], -1), h)
                y = h
                outs.append(self.out(h))
            return torch.stack(outs, 1)

    torch.manual_seed(0)
    doc = diagnose(Seq2Seq(), torch.randn(4, 10, 8), target_label="t", input_label="t")
    types = {m["name"]: m["type"] for m in doc["modules"]}
    assert types == {"encoder": "GRU", "decoder": "GRUCell"}
    assert {r["module"] for r in doc["probes"]["recurrent"]} == {"encoder", "decoder"}
    assert not [f for f in doc["findings"] if f["severity"] == "error"]


@pytest.mark.parametrize("cell", sorted(CELL_CLASSES))
def test_cell_gates_are_the_gates_of_the_same_weights_as_a_layer(cell):
    """cellprobe reads the gates through rnnref's step: equal to rnnref's fused layer, and
    the step equals torch's cell (tests/rnnref/test_cells.py)."""
    torch.manual_seed(2)
    module = CELL_CLASSES[cell](5, 7).double()
    record = torch_cell_type(module)
    layer = getattr(nn, record.torch_layer)(5, 7, **record.torch_kwargs()).double()
    layer.load_state_dict({name + "_l0": value for name, value in module.state_dict().items()})
    model = rnnref.from_torch(layer)
    x = np.random.default_rng(0).standard_normal((6, 3, 5))
    model(x)
    trace = model.trace()
    h_prev = np.concatenate([trace.h0[None], trace.states[:-1]])
    c_prev = np.concatenate([trace.c0[None], trace.cells[:-1]]) if record.cell_state else None
    got = cellprobe.gates(module, x, h_prev, c_prev)
    assert got.keys() == trace.gates.keys()
    for gate, values in got.items():
        np.testing.assert_allclose(values, trace.gates[gate], rtol=1e-12, atol=1e-14)
