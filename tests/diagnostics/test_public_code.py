"""Models written the way widely used public RNN code writes them, and the four ways
the diagnosis failed on them (a layer run through ``module.forward`` under a weight drop, a
hook of the suite crashing on a state the loss does not reach, a decoder stepped one token
per call, a bidirectional layer read at one end), plus a model none of whose recurrent
modules can be probed."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diagnostics import diagnose
from diagnostics.capture import Capture
from diagnostics.replay import replay
from reports.findingsfile import validate


def findings(model, x, **kw):
    doc = diagnose(model, x, target_label="test", input_label="test", **kw)
    validate(doc)
    return doc, {(f["code"], f["severity"]): f for f in doc["findings"]}


# ---------------------------------------------------------------- AWD-LSTM weight drop


class WeightDrop(nn.Module):
    """DropConnect on a wrapped layer's recurrent weights, structured like the WeightDrop of
    salesforce/awd-lstm-lm: the Parameter moves to ``NAME_raw``, each forward sets a dropped
    plain tensor under NAME and runs ``module.forward`` directly (no module hook fires).
    ``cut`` drops a copy taken through ``.data``, the fault of fastai2 PR 427: the recurrent
    weights are out of the graph and never train."""

    def __init__(self, module, names, dropout=0.5, cut=False):
        super().__init__()
        self.module, self.names, self.dropout, self.cut = module, names, dropout, cut
        for name in names:
            weight = getattr(module, name)
            del module._parameters[name]
            module.register_parameter(name + "_raw", nn.Parameter(weight.data))

    def forward(self, *args):
        for name in self.names:
            raw = getattr(self.module, name + "_raw")
            source = raw.data if self.cut else raw
            setattr(self.module, name, F.dropout(source, self.dropout, self.training))
        return self.module.forward(*args)


class AWDLanguageModel(nn.Module):
    def __init__(self, cut=False, vocab=60, emb=16, hidden=24):
        super().__init__()
        self.encoder = nn.Embedding(vocab, emb)
        sizes = [(emb, hidden), (hidden, hidden)]
        self.rnns = nn.ModuleList(
            WeightDrop(nn.LSTM(i, h), ["weight_hh_l0"], 0.5, cut) for i, h in sizes
        )
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out = self.encoder(tokens)
        for rnn in self.rnns:
            out, _ = rnn(out)
        return self.decoder(out)


def test_a_weight_dropped_layer_run_through_forward_is_probed():
    torch.manual_seed(0)
    doc, found = findings(AWDLanguageModel(), torch.randint(0, 60, (20, 4)))
    assert ("layer-not-called", "info") not in found
    assert not [key for key in found if key[1] == "error"]
    probed = {(r["module"], r["layer"]) for r in doc["probes"]["recurrent"]}
    assert probed == {("rnns.0.module", 0), ("rnns.1.module", 0)}
    assert all(m["calls"] == 1 and m["replay_trusted"] for m in doc["modules"])


def test_the_weights_that_ran_are_replayed():
    """In training mode (a watched run) the dropped weight_hh_l0 differs from its Parameter:
    the capture keeps the weights the op got, and the replay with them agrees with torch."""
    torch.manual_seed(0)
    drop = WeightDrop(nn.LSTM(8, 16), ["weight_hh_l0"], 0.5).train()
    with Capture(drop) as cap:
        (drop(torch.randn(12, 3, 8))[0] ** 2).sum().backward()
        cap.finish()
    call = cap.layers["module"]
    ran = call.module.weight_hh_l0.detach()
    assert torch.equal(ran, drop.module.weight_hh_l0.detach())
    assert not torch.equal(ran, drop.module.weight_hh_l0_raw.detach())
    assert replay(call, 0).agreement < 1e-3
    (source,) = call.weight_sources
    assert source == {
        "weight": "weight_hh_l0",
        "parameters": ["module.weight_hh_l0_raw"],
        "connected": True,
    }


def test_a_weight_drop_that_cuts_the_raw_weight_out_of_the_graph_is_no_gradient():
    torch.manual_seed(0)
    doc, _ = findings(AWDLanguageModel(cut=True), torch.randint(0, 60, (20, 4)))
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert [(f["code"], f["module"]) for f in errors] == [
        ("no-gradient", "rnns.0.module"),
        ("no-gradient", "rnns.1.module"),
    ]
    for index, error in enumerate(errors):
        assert error["evidence"]["weight"] == "weight_hh_l0"
        assert error["evidence"]["connected"] is False
        assert error["evidence"]["without_gradient"] == [f"rnns.{index}.module.weight_hh_l0_raw"]
        assert "PR 427" in error["advice"]


# ---------------------------------------------------------------- token-stepped decoder


class Encoder(nn.Module):
    def __init__(self, vocab, emb, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers)

    def forward(self, src):
        _, (hidden, cell) = self.rnn(self.embedding(src))
        return hidden, cell


class Decoder(nn.Module):
    """One target token per call, (hidden, cell) carried from call to call."""

    def __init__(self, vocab, emb, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers)
        self.fc_out = nn.Linear(hidden, vocab)

    def forward(self, token, hidden, cell):
        output, (hidden, cell) = self.rnn(self.embedding(token.unsqueeze(0)), (hidden, cell))
        return self.fc_out(output.squeeze(0)), hidden, cell


class Seq2Seq(nn.Module):
    """A 2-layer LSTM encoder-decoder in the structure of the common seq2seq tutorials; the
    target is the source reversed; ``teacher`` feeds the true token, else the prediction."""

    def __init__(self, teacher=True, vocab=50, emb=16, hidden=32, layers=2):
        super().__init__()
        self.encoder = Encoder(vocab, emb, hidden, layers)
        self.decoder = Decoder(vocab, emb, hidden, layers)
        self.teacher = teacher

    def forward(self, src):
        trg = src.flip(0)
        hidden, cell = self.encoder(src)
        token, outputs = trg[0], []
        for t in range(1, trg.shape[0]):
            out, hidden, cell = self.decoder(token, hidden, cell)
            outputs.append(out)
            token = trg[t] if self.teacher else out.argmax(1)
        return torch.stack(outputs)


@pytest.mark.parametrize("teacher", [True, False], ids=["teacher-forcing", "own-predictions"])
def test_a_decoder_stepped_one_token_per_call_is_probed_as_one_sequence(teacher):
    torch.manual_seed(0)
    doc, found = findings(Seq2Seq(teacher), torch.randint(0, 50, (12, 4)))
    assert ("repeated-calls", "info") not in found
    decoder = [r for r in doc["probes"]["recurrent"] if r["module"] == "decoder.rnn"]
    assert [(r["layer"], r["steps"], r["chained"]) for r in decoder] == [
        (0, 11, True),
        (1, 11, True),
    ]
    for record in decoder:  # the gradient through time crosses the calls
        assert record["end_curve"][0] == 1.0
        assert 0 < record["end_curve"][5] < 1
        assert record["decay_per_step"] is not None
        assert record["saturation"]["gates"]
    (module,) = [m for m in doc["modules"] if m["name"] == "decoder.rnn"]
    assert module["calls"] == 11 and module["stepped"]


def test_hooks_tolerate_states_the_loss_never_reads_and_tensors_without_a_graph():
    """A frozen layer on an input without gradient (outputs without grad_fn) next to a
    trainable one whose final state the loss never reads, run twice."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen = nn.GRU(8, 8).requires_grad_(False)
            self.rnn = nn.LSTM(8, 8)
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            features, _ = self.frozen(x)
            out, _ = self.rnn(features)
            again, _ = self.rnn(features.flip(0))
            return self.head(out + again)

    torch.manual_seed(0)
    doc, found = findings(Net(), torch.randn(10, 3, 8))
    assert {m["name"]: m["calls"] for m in doc["modules"]} == {"frozen": 1, "rnn": 2}
    assert found[("no-gradient", "info")]["module"] == "frozen"


# ---------------------------------------------------------------- bidirectional, one end


class BiRNN(nn.Module):
    """Bidirectional LSTM classifier structured like yunjey/pytorch-tutorial's, reading
    ``out[:, -1, :]``; ``fixed`` reads each direction at its own end (the fix of its
    issue 149)."""

    def __init__(self, fixed=False, input_size=28, hidden=32, layers=2, classes=10):
        super().__init__()
        self.hidden, self.layers, self.fixed = hidden, layers, fixed
        self.lstm = nn.LSTM(input_size, hidden, layers, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(hidden * 2, classes)

    def forward(self, x):
        h0 = torch.zeros(self.layers * 2, x.size(0), self.hidden)
        c0 = torch.zeros(self.layers * 2, x.size(0), self.hidden)
        out, _ = self.lstm(x, (h0, c0))
        if self.fixed:
            return self.fc(torch.cat((out[:, -1, : self.hidden], out[:, 0, self.hidden :]), 1))
        return self.fc(out[:, -1, :])


def test_a_bidirectional_layer_read_at_one_end_is_a_warning_with_the_fix():
    torch.manual_seed(0)
    _, found = findings(BiRNN(), torch.randn(8, 28, 28))
    warning = found[("direction-read-at-one-end", "warning")]
    assert warning["evidence"] == {"layer": 1, "direction": 1, "steps": 28, "steps_reached": 1}
    assert "h_n[-2], h_n[-1]" in warning["advice"] and "out[:, 0, H:]" in warning["advice"]


def test_reading_each_direction_at_its_own_end_is_quiet():
    torch.manual_seed(0)
    _, found = findings(BiRNN(fixed=True), torch.randn(8, 28, 28))
    assert not [key for key in found if key[1] != "info"]


# ---------------------------------------------------------------- nothing probed


def test_a_model_none_of_whose_recurrent_modules_ran_is_never_healthy():
    """An LSTM whose weights a hand-written loop uses: the module never runs."""

    class HandLoop(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            h = c = x.new_zeros(x.shape[1], 16)
            for step in x:
                gates = step @ self.lstm.weight_ih_l0.T + h @ self.lstm.weight_hh_l0.T
                i, f, g, o = gates.chunk(4, 1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
            return self.head(h)

    torch.manual_seed(0)
    _, found = findings(HandLoop(), torch.randn(10, 3, 8))
    warning = found[("not-probed", "warning")]
    assert warning["evidence"]["modules"] == {"lstm": "not run in the forward pass"}
    assert ("layer-not-called", "info") in found


def test_a_functional_recurrent_op_is_probed_and_named_by_its_call_site():
    class FunctionalLSTM(nn.Module):
        def __init__(self, inputs=8, hidden=16):
            super().__init__()
            self.w_ih = nn.Parameter(torch.randn(4 * hidden, inputs) * 0.2)
            self.w_hh = nn.Parameter(torch.randn(4 * hidden, hidden) * 0.2)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            zeros = x.new_zeros(1, x.shape[1], self.w_hh.shape[1])
            weights = [self.w_ih, self.w_hh]
            out, _, _ = torch.lstm(x, (zeros, zeros), weights, False, 1, 0.0, False, False, False)
            return self.head(out)

    torch.manual_seed(0)
    doc, found = findings(FunctionalLSTM(), torch.randn(20, 4, 8))
    (module,) = doc["modules"]
    assert module["name"].startswith("test_public_code.py:") and module["type"] == "LSTM"
    assert module["replay_trusted"] and module["calls"] == 1
    assert [r["module"] for r in doc["probes"]["recurrent"]] == [module["name"]]
    assert ("not-probed", "warning") not in found


def test_a_cell_stepped_through_its_forward_is_probed_as_a_loop():
    """An nn.LSTMCell time-series loop that calls ``cell.forward`` (no module hook fires)."""

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, 24)
            self.linear = nn.Linear(24, 1)

        def forward(self, x):
            h = c = x.new_zeros(x.shape[0], 24)
            outputs = []
            for step in x.split(1, dim=1):
                h, c = self.lstm1.forward(step, (h, c))
                outputs.append(self.linear(h))
            return torch.cat(outputs, dim=1)

    torch.manual_seed(0)
    doc, found = findings(Sequence(), torch.randn(4, 30))
    (record,) = doc["probes"]["recurrent"]
    assert (record["module"], record["steps"], record["stepped"]) == ("lstm1", 30, True)
    assert ("layer-not-called", "info") not in found


def test_a_cell_op_stepping_a_layers_weights_is_a_loop_named_by_its_call_site():
    class HandStepped(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            weights = (self.lstm.weight_ih_l0, self.lstm.weight_hh_l0)
            biases = (self.lstm.bias_ih_l0, self.lstm.bias_hh_l0)
            state = (x.new_zeros(x.shape[1], 16), x.new_zeros(x.shape[1], 16))
            for step in x:
                state = torch.lstm_cell(step, state, *weights, *biases)
            return self.head(state[0])

    torch.manual_seed(0)
    doc, found = findings(HandStepped(), torch.randn(12, 3, 8))
    loop = next(m for m in doc["modules"] if m["type"] == "LSTMCell")
    assert loop["name"].startswith("test_public_code.py:") and loop["calls"] == 12
    assert [(r["module"], r["steps"]) for r in doc["probes"]["recurrent"]] == [(loop["name"], 12)]
    assert ("not-probed", "warning") not in found


# ---------------------------------------------------------------- the model is the layer


def test_a_bare_layer_handed_over_as_the_model_is_probed_under_its_class_name():
    """``build()`` returning ``nn.LSTM(...)`` itself: one module, named by its class."""
    torch.manual_seed(0)
    doc, found = findings(nn.LSTM(8, 16, num_layers=2, batch_first=True), torch.randn(4, 20, 8))
    (module,) = doc["modules"]
    assert (module["name"], module["path"], module["calls"]) == ("LSTM", "", 1)
    assert {(r["module"], r["layer"]) for r in doc["probes"]["recurrent"]} == {
        ("LSTM", 0),
        ("LSTM", 1),
    }
    assert not {code for code, _ in found} & {"layer-not-called", "not-probed", "no-gradient"}


def test_a_bare_frozen_layer_is_frozen_not_unreached():
    layer = nn.GRU(8, 16, bidirectional=True)
    layer.requires_grad_(False)
    torch.manual_seed(0)
    _, found = findings(layer, torch.randn(20, 4, 8).requires_grad_())
    assert ("no-gradient", "error") not in found
    assert ("layer-not-called", "info") not in found
