"""Rules on real small models: each fault gives its code, with evidence and actionable advice."""

import ast
import inspect

import pytest
import torch
from torch import nn

import rnnref
from diagnostics import diagnose, rules
from diagnostics.codebook import CODEBOOK
from diagnostics.evaluation.corpus import SeqModel, make_rnn
from reports.findingsfile import validate


def findings(model, x, **kw):
    doc = diagnose(model, x, target_label="test", input_label="test", **kw)
    validate(doc)
    return doc, {(f["code"], f["severity"]): f for f in doc["findings"]}


def seq(cell, layers=1, bidirectional=False, hidden=16, seed=0):
    torch.manual_seed(seed)
    return SeqModel(make_rnn(cell, layers, bidirectional, hidden), last_step=False)


def test_healthy_lstm_horizon_is_info_without_advice_to_change_it():
    _, found = findings(seq("lstm"), torch.randn(8, 40, 8))
    assert not [k for k in found if k[1] != "info"]
    info = found[("vanishing-gradient", "info")]
    assert "forget-gate bias" not in info["advice"] and "truncate" not in info["advice"]
    assert info["evidence"]["healthy_horizon"] == [10, 12]


@pytest.mark.parametrize(
    ("cell", "hidden", "features", "steps"),
    [
        ("lstm", 16, 8, 35),
        ("lstm", 128, 32, 100),
        ("gru", 64, 16, 60),
        ("rnn_tanh", 32, 8, 100),
        ("rnn_relu", 64, 64, 50),
    ],
)
def test_default_initialised_layers_keep_the_healthy_horizon(cell, hidden, features, steps):
    """The band each cell type's record gives (and the thresholds are set from)."""
    torch.manual_seed(hidden + steps)
    rnn = make_rnn(cell, 1, False, hidden)
    if features != rnn.input_size:
        rnn = type(rnn)(
            features,
            hidden,
            batch_first=True,
            **({"nonlinearity": rnn.nonlinearity} if cell.startswith("rnn") else {}),
        )
    doc, found = findings(SeqModel(rnn, last_step=True), torch.randn(8, steps, features))
    low, high = rnnref.cell_type(cell).healthy_horizon
    horizon = doc["probes"]["recurrent"][0]["horizon"]
    assert low <= horizon <= high
    beyond_reach = cell.startswith("rnn") and steps > rules.RNN_REACH_RATIO * horizon
    assert found[("vanishing-gradient", "warning" if beyond_reach else "info")]


def test_tanh_rnn_over_500_steps_warns_without_truncation_advice_for_a_last_step_head():
    torch.manual_seed(0)
    model = SeqModel(make_rnn("rnn_tanh", 1, False, 32), last_step=True)
    _, found = findings(model, torch.randn(4, 500, 8))
    warning = found[("vanishing-gradient", "warning")]
    assert warning["evidence"]["sequence_steps"] == 500
    assert "truncate" not in warning["advice"] and "nn.LSTM" in warning["advice"]


def test_severity_ladder():
    assert rules.ladder(2e3, 1e3, 10) == "error"
    assert rules.ladder(10, 1e3, 10) == "warning"
    assert rules.ladder(9, 1e3, 10) is None
    assert rules.ladder(5, 5, 7, low=True) == "error"
    assert rules.ladder(7, 5, 7, low=True) == "warning"
    assert rules.ladder(8, 5, 7, low=True) is None


def test_shrunk_rnn_vanishes_with_pascanus_guarantee():
    model = seq("rnn_tanh")
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(0.1)
    _, found = findings(model, torch.randn(8, 30, 8))
    error = found[("vanishing-gradient", "error")]
    assert error["evidence"]["horizon_steps"] <= 4
    assert "vanishing is guaranteed" in error["evidence"]["pascanu"]
    assert "nn.LSTM or nn.GRU" in error["advice"] and "orthogonal" in error["advice"]


def test_exploding_relu_rnn_suggests_a_clip_value():
    model = seq("rnn_relu")
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(16, 16))
        model.rnn.weight_hh_l0.copy_(2.5 * q)
    target = torch.randn(8, 30, 3)
    doc, found = findings(model, torch.randn(8, 30, 8), steps=3, lr=1e-4, target=target)
    error = found[("exploding-gradient", "error")]
    assert error["evidence"]["growth"] >= 1e3
    clip = doc["probes"]["training"]["suggested_clip"]
    assert f"max_norm={clip:.3g}" in error["advice"]


def test_dead_relu_units_are_counted():
    model = seq("rnn_relu", hidden=20)
    with torch.no_grad():
        model.rnn.bias_ih_l0[:10] = -10.0
    _, found = findings(model, torch.randn(8, 30, 8))
    error = found[("dead-units", "error")]
    assert error["evidence"]["dead_count"] == 10 and error["evidence"]["hidden"] == 20


def test_saturated_gru_gates():
    model = seq("gru")
    with torch.no_grad():
        model.rnn.weight_ih_l0.mul_(30.0)
    _, found = findings(model, torch.randn(8, 30, 8))
    error = found[("saturation", "error")]
    assert error["evidence"]["hard_saturated_fraction"] >= 0.5


def test_nan_weight_names_parameter_layer_and_step():
    model = seq("lstm", layers=2)
    with torch.no_grad():
        model.rnn.weight_hh_l1[3, 2] = float("nan")
    doc, found = findings(model, torch.randn(4, 20, 8))
    error = found[("non-finite", "error")]
    assert error["evidence"]["parameters_with_nonfinite_weights"] == {"rnn.weight_hh_l1": 1}
    assert error["module"] == "rnn"
    steps = error["evidence"]["recurrent_first_steps"]
    # W_hh h_0 is already NaN at step 0 (0 * NaN = NaN). Backward, the last step's gradient
    # of layer 1 is still finite (it comes from the head); layer 0's forward stays finite, its
    # gradient is NaN from the first step backpropagated, through layer 1's NaN gates.
    assert steps["rnn layer 1 forward"] == {"forward_step": 0, "backward_step": 18}
    assert steps["rnn layer 0 forward"] == {"forward_step": None, "backward_step": 19}
    assert not [
        f for f in doc["findings"] if f["code"] in ("vanishing-gradient", "replay-mismatch")
    ]


def test_inf_bias_in_a_relu_rnn_is_reported_without_side_effects():
    model = seq("rnn_relu", layers=2, bidirectional=True)
    with torch.no_grad():
        model.rnn.bias_hh_l0[2] = float("inf")
    doc, found = findings(model, torch.randn(4, 12, 8))
    assert found[("non-finite", "error")]["evidence"]["parameters_with_nonfinite_weights"] == {
        "rnn.bias_hh_l0": 1
    }
    assert doc["modules"][0]["replay_error"] is None
    assert ("replay-mismatch", "warning") not in found


def test_nan_in_the_input_names_the_first_module():
    x = torch.randn(4, 10, 8)
    x[1, 3, 0] = float("nan")
    _, found = findings(seq("gru"), x)
    error = found[("non-finite", "error")]
    assert error["evidence"]["first_forward_module"] == "rnn"
    assert error["evidence"]["recurrent_first_steps"]["rnn layer 0 forward"]["forward_step"] == 3


def test_subclass_with_its_own_forward_is_probed_at_its_recurrent_op():
    """The capture sees the recurrent op itself, so what the subclass does around it (doubling
    the output) is outside the replayed computation: the replay agrees and is used."""

    class Doubled(nn.LSTM):
        def forward(self, x, hx=None):
            out, state = super().forward(x, hx)
            return 2 * out, state

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = Doubled(8, 16)

        def forward(self, x):
            return self.rnn(x)[0]

    doc, found = findings(Net(), torch.randn(12, 4, 8))
    assert ("replay-mismatch", "warning") not in found
    assert doc["modules"][0]["replay_trusted"] is True
    assert doc["modules"][0]["replay_agreement"] < 1e-3
    assert [r["module"] for r in doc["probes"]["recurrent"]] == ["rnn"]


def test_repeated_and_unused_layers_are_noted():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.GRU(8, 8)
            self.unused = nn.LSTM(8, 8)

        def forward(self, x):  # two sequences through one layer, each from a zero state
            return self.shared(x)[0] + self.shared(x.flip(0))[0]

    doc, found = findings(Net(), torch.randn(5, 3, 8))
    assert found[("repeated-calls", "info")]["evidence"] == {"calls": 2}
    assert ("layer-not-called", "info") in found
    assert [m["calls"] for m in doc["modules"]] == [2, 0]


def test_a_layer_stepped_through_its_state_is_probed_across_its_calls():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRU(8, 8)

        def forward(self, x):
            h = None
            outs = []
            for t in range(x.shape[0]):
                out, h = self.cell(x[t : t + 1], h)
                outs.append(out)
            return torch.cat(outs)

    doc, found = findings(Net(), torch.randn(5, 3, 8))
    assert ("repeated-calls", "info") not in found
    (record,) = doc["probes"]["recurrent"]
    assert (record["steps"], record["chained"], len(record["end_curve"])) == (5, True, 5)
    assert doc["modules"][0]["calls"] == 5


@pytest.mark.parametrize("spike_lr", [10.0])
def test_training_with_a_huge_learning_rate_is_reported(spike_lr):
    doc, found = findings(seq("rnn_relu"), torch.randn(8, 30, 8), steps=15, lr=spike_lr)
    training = doc["probes"]["training"]
    assert training["steps_done"] >= 2
    codes = {code for code, _ in found}
    assert codes & {"loss-spikes", "exploding-gradient", "non-finite"}


def test_same_model_and_input_give_the_same_document():
    x = torch.randn(4, 16, 8)
    first, _ = findings(seq("lstm", layers=2, bidirectional=True, seed=5), x, seed=3)
    second, _ = findings(seq("lstm", layers=2, bidirectional=True, seed=5), x, seed=3)
    assert first == second


def test_every_threshold_is_named_in_the_codebook_and_every_code_has_a_rule():
    """Each documented constant of the thresholds section at the top of rules.py is named by
    the codebook entry of a code it judges (the site's finding-codes page shows it there);
    the codes are the registry's."""
    tree = ast.parse(inspect.getsource(rules))
    statements = []  # the names each assignment of the section sets (A, B = 1, 2: both)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            break
        if isinstance(node, ast.Assign):
            (target,) = node.targets
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            statements.append([n.id for n in names if isinstance(n, ast.Name) and n.id.isupper()])
    named = {ref for entry in CODEBOOK for ref in entry.thresholds}
    unnamed = [s for s in statements if s and not any(f"diagnostics.rules:{n}" in named for n in s)]
    assert unnamed == []
    assert tuple(dict.fromkeys(c for r in rules.RULES for c in r.codes)) == rules.CODES
    assert {r.scope for r in rules.RULES} == {"pass", "run", "module", "watch"}
