"""The bugs people really have in their RNNs, in models written the way they write
them: each is found with its own code, and the healthy version of each stays quiet."""

import pytest
import torch
from torch import nn

from diagnostics import diagnose, rules
from diagnostics.probes import stepcost
from reports.findingsfile import validate
from usermodel.errors import UsageError


def findings(model, x, **kw):
    doc = diagnose(model, x, target_label="test", input_label="test", **kw)
    validate(doc)
    return doc, {(f["code"], f["severity"]): f for f in doc["findings"]}


class BiLSTMClassifier(nn.Module):
    """The classic sentiment classifier: embedding, 2-layer bi-LSTM, fc(h_n[-1])."""

    def __init__(self, both_directions=False):
        super().__init__()
        self.embedding = nn.Embedding(100, 16)
        self.lstm = nn.LSTM(16, 24, num_layers=2, bidirectional=True, batch_first=True)
        self.both = both_directions
        self.fc = nn.Linear(48 if both_directions else 24, 2)

    def forward(self, text):
        _, (hidden, _) = self.lstm(self.embedding(text))
        if self.both:
            return self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1))
        return self.fc(hidden[-1])


def test_fc_on_h_n_last_leaves_the_last_layers_forward_direction_without_gradient():
    torch.manual_seed(0)
    doc, found = findings(BiLSTMClassifier(), torch.randint(0, 100, (8, 20)))
    error = found[("no-gradient", "error")]
    assert error["evidence"]["without_gradient"] == [[1, 0]]
    assert "h_n[-2]" in error["advice"]
    vanishing = [f for f in doc["findings"] if f["code"] == "vanishing-gradient"]
    assert all(f["evidence"]["layer"] != 1 or f["evidence"]["direction"] != 0 for f in vanishing)


def test_reading_both_directions_gives_every_direction_a_gradient():
    torch.manual_seed(0)
    _, found = findings(BiLSTMClassifier(True), torch.randint(0, 100, (8, 20)))
    assert "no-gradient" not in {code for code, _ in found}
    assert not [key for key in found if key[1] == "error"]


def test_output_detached_before_the_head_is_an_error_without_vanishing_advice():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            features = out[:, -1, :].detach()  # "stop the gradient here to save memory"
            return self.head(features)

    _, found = findings(Net(), torch.randn(4, 30, 8))
    error = found[("no-gradient", "error")]
    assert "no gradient reaches lstm" in error["summary"] and ".detach()" in error["advice"]
    assert "vanishing-gradient" not in {code for code, _ in found}


def test_frozen_pretrained_encoder_is_info_without_vanishing_advice():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.GRU(8, 16, batch_first=True)
            for p in self.encoder.parameters():
                p.requires_grad = False
            self.decoder = nn.LSTM(16, 16, batch_first=True)
            self.out = nn.Linear(16, 3)

        def forward(self, x):
            features, _ = self.encoder(x)
            return self.out(self.decoder(features)[0])

    _, found = findings(Net(), torch.randn(4, 30, 8))
    info = found[("no-gradient", "info")]
    assert info["module"] == "encoder" and "frozen" in info["summary"]
    assert not [f for f in found.values() if f["module"] == "encoder" and f is not info]
    assert not [key for key in found if key[1] == "error"]


class ChunkedLSTM(nn.Module):
    """A long series run in chunks of 20 steps "to save memory", state detached in between."""

    def __init__(self, detach=True):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 1)
        self.detach = detach

    def forward(self, x):
        state = None
        outs = []
        for chunk in x.split(20, dim=1):
            out, state = self.lstm(chunk, state)
            if self.detach:
                state = tuple(s.detach() for s in state)
            outs.append(out)
        return self.fc(torch.cat(outs, dim=1))


def test_state_detached_between_chunks_truncates_the_gradient():
    _, found = findings(ChunkedLSTM(), torch.randn(4, 100, 8))
    error = found[("truncated-gradient", "error")]
    assert error["evidence"] == {"reach_steps": 20, "sequence_steps": 100, "cuts": 4}
    assert "20 of the sequence's 100 steps" in error["summary"]
    assert ("repeated-calls", "info") not in found


def test_state_passed_on_between_chunks_is_not_truncated():
    _, found = findings(ChunkedLSTM(detach=False), torch.randn(4, 100, 8))
    assert "truncated-gradient" not in {code for code, _ in found}
    assert not [key for key in found if key[1] == "error"]


def test_cell_loop_detaching_every_ten_steps_is_truncated():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(8, 16)
            self.fc = nn.Linear(16, 1)

        def forward(self, x):
            h = torch.zeros(x.size(0), 16)
            outs = []
            for t in range(x.size(1)):
                if t % 10 == 0:
                    h = h.detach()
                h = self.cell(x[:, t], h)
                outs.append(self.fc(h))
            return torch.stack(outs, 1)

    _, found = findings(Net(), torch.randn(4, 60, 8))
    error = found[("truncated-gradient", "error")]
    assert error["evidence"]["reach_steps"] == 10 and error["evidence"]["sequence_steps"] == 60
    assert "vanishing-gradient" not in {code for code, _ in found}


class StatefulLM(nn.Module):
    """A stateful language model that keeps its hidden state between batches."""

    def __init__(self, detach):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 16, batch_first=True)
        self.fc = nn.Linear(16, 50)
        self.hidden = None
        self.detach = detach

    def forward(self, tokens):
        out, hidden = self.lstm(self.embed(tokens), self.hidden)
        self.hidden = tuple(h.detach() for h in hidden) if self.detach else hidden
        return self.fc(out)


def test_stateful_model_keeping_the_graph_warns_without_steps():
    _, found = findings(StatefulLM(detach=False), torch.randint(0, 50, (4, 12)))
    warning = found[("state-carries-graph", "warning")]
    assert warning["evidence"]["attributes"] == ["model.hidden"]
    assert ".detach()" in warning["advice"]


def test_stateful_model_keeping_the_graph_under_steps_is_one_usage_line():
    with pytest.raises(UsageError) as info:
        findings(StatefulLM(detach=False), torch.randint(0, 50, (4, 12)), steps=2)
    message = str(info.value)
    assert "hidden state kept between batches (model.hidden) needs .detach()" in message
    assert "\n" not in message


def test_stateful_model_that_detaches_is_quiet():
    _, found = findings(StatefulLM(detach=True), torch.randint(0, 50, (4, 12)), steps=2)
    assert "state-carries-graph" not in {code for code, _ in found}
    assert not [key for key in found if key[1] == "error"]


class Forecaster(nn.Module):
    """A one-value-ahead forecaster: LSTM, then a linear head on the last step, shape (B, 1)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_diverging_adam_at_lr_1_is_an_error():
    torch.manual_seed(0)
    x, y = torch.randn(16, 20, 4), torch.randn(16, 1)
    _, found = findings(Forecaster(), x, target=y, steps=12, lr=1.0)
    error = found[("training-divergence", "error")]
    assert error["evidence"]["lr"] == 1.0
    assert "lower the learning rate" in error["advice"]


def test_converging_training_is_not_divergence():
    torch.manual_seed(0)
    x, y = torch.randn(16, 20, 4), torch.randn(16, 1)
    _, found = findings(Forecaster(), x, target=y, steps=12, lr=1e-2)
    assert "training-divergence" not in {code for code, _ in found}


def test_output_32_by_1_against_target_32_broadcasts():
    torch.manual_seed(0)
    x, y = torch.randn(32, 10, 4), torch.randn(32)
    _, found = findings(Forecaster(), x, target=y)
    error = found[("loss-broadcast", "error")]
    assert error["evidence"] == {"output": [32, 1], "target": [32], "broadcast": [32, 32]}
    assert "1024 pairs instead of 32" in error["summary"]
    assert "output.squeeze(-1)" in error["advice"]


def test_clip_threshold_comes_only_from_the_real_loss():
    torch.manual_seed(0)
    model = Forecaster()
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(64, 16))
        model.lstm.weight_hh_l0.copy_(30 * q)
    x, y = torch.randn(16, 20, 4), torch.randn(16, 1)
    doc, _ = findings(model, x, steps=3)
    advice = " ".join(f["advice"] for f in doc["findings"])
    assert "max_norm=" not in advice and doc["probes"]["training"]["suggested_clip"] is None
    doc, _ = findings(model, x, steps=3, target=y)
    clip = doc["probes"]["training"]["suggested_clip"]
    assert any(f"max_norm={clip:.3g}" in f["advice"] for f in doc["findings"])


class LastStepLSTM(nn.Module):
    """A sequence classifier on the last step, its weights scaled down so that the gradient
    fades fast (about 3-fold per step): its float32 values pass through the subnormal range
    within the 200 steps, as a default LSTM's do at hidden 256."""

    def __init__(self, every_step=False):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, batch_first=True)
        self.head = nn.Linear(6, 3)
        self.every_step = every_step
        with torch.no_grad():
            self.lstm.weight_hh_l0.mul_(0.05)
            self.lstm.weight_ih_l0.mul_(0.05)

    def forward(self, x):
        out = self.lstm(x)[0]
        return self.head(out if self.every_step else out[:, -1])


class LastStepCellLoop(nn.Module):
    """The same classifier written with nn.LSTMCell stepped in a Python loop."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(5, 6)
        self.head = nn.Linear(6, 3)
        with torch.no_grad():
            self.cell.weight_hh.mul_(0.05)
            self.cell.weight_ih.mul_(0.05)

    def forward(self, x):
        h = c = torch.zeros(x.shape[0], 6)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.head(h)


def subnormal_finding(model, x):
    _, found = findings(model, x)
    (finding,) = [f for (code, _), f in found.items() if code == "subnormal-gradient"]
    return finding


def test_a_gradient_that_fades_into_float32_subnormals_has_its_cure_measured():
    """The cure is timed on the layer's captured call: the speedup is measured data, so only
    its presence and the severity it implies are checked, never its size."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    finding = subnormal_finding(LastStepLSTM(), torch.randn(4, 200, 5))
    evidence = finding["evidence"]
    assert evidence["subnormal_fraction"] >= 0.01
    assert isinstance(evidence["speedup"], float) and evidence["speedup"] > 0
    assert evidence["step_s"] > 0 and evidence["flushed_s"] > 0
    assert evidence["speedup"] == pytest.approx(evidence["step_s"] / evidence["flushed_s"])
    assert evidence["threads"] == threads and evidence["speedup_threshold"] == 2.0
    warned = evidence["speedup"] >= rules.FLUSH_WARN_SPEEDUP
    assert finding["severity"] == ("warning" if warned else "info")
    speedup = evidence["speedup"]  # this CPU may compute subnormals at full speed
    said = f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x slower, no gain"
    assert said in finding["summary"]
    assert "torch.set_flush_denormal(True)\ntorch.set_num_threads(1)" in finding["advice"]
    # the measurement left the thread count and the flag as they were
    assert torch.get_num_threads() == threads and not stepcost.flushes_subnormals()


def test_a_cell_loop_with_subnormal_gradients_is_info_unmeasured():
    torch.manual_seed(0)
    finding = subnormal_finding(LastStepCellLoop(), torch.randn(4, 200, 5))
    assert finding["severity"] == "info" and finding["evidence"]["speedup"] is None
    assert "torch.set_flush_denormal(True)" in finding["advice"]


@pytest.mark.parametrize("speedup, severity", [(1.3, "info"), (2.0, "warning"), (9.0, "warning")])
def test_subnormal_severity_follows_the_measured_speedup(speedup, severity):
    module = {"name": "lstm", "dtype": "float32", "device": "cpu", "calls": 1}
    module["flush_denormal"] = {
        "step_s": speedup * 0.1,
        "flushed_s": 0.1,
        "speedup": speedup,
        "threads": 2,
    }
    record = {"module": "lstm", "layer": 0, "direction": 0, "grad_subnormal_fraction": 0.1}
    weight = {"name": "lstm.weight_hh_l0", "requires_grad": True, "grad_reached": True}
    probes = {"recurrent": [record], "whole_model": {"parameters": [weight]}}
    (finding,) = rules.subnormal(module, [record], probes)
    assert finding["severity"] == severity and finding["evidence"]["speedup"] == speedup


def test_more_threads_than_cores_is_a_warning():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(stepcost.usable_cores() + 1)
    try:
        _, found = findings(LastStepLSTM(every_step=True), torch.randn(4, 20, 5))
    finally:
        torch.set_num_threads(threads)
    finding = found[("threads-exceed-cores", "warning")]
    cores = stepcost.usable_cores()
    assert finding["evidence"] == {"threads": cores + 1, "cores": cores}
    assert f"torch.set_num_threads({cores})" in finding["advice"]


def test_anomaly_detection_left_on_is_a_warning():
    torch.manual_seed(0)
    with torch.autograd.set_detect_anomaly(True):
        _, found = findings(LastStepLSTM(every_step=True), torch.randn(4, 20, 5))
    assert (
        "torch.autograd.set_detect_anomaly(False)"
        in (found[("anomaly-detection-on", "warning")]["advice"])
    )
    _, found = findings(LastStepLSTM(every_step=True), torch.randn(4, 20, 5))
    codes = {code for code, _ in found}
    assert not codes & {"anomaly-detection-on", "threads-exceed-cores"}


@pytest.mark.parametrize("case", ["every step", "float64"])
def test_no_subnormal_finding_with_a_loss_on_every_step_or_in_float64(case):
    torch.manual_seed(0)
    model, x = LastStepLSTM(every_step=case == "every step"), torch.randn(4, 200, 5)
    if case == "float64":
        model, x = model.double(), x.double()
    _, found = findings(model, x)
    assert not any(code == "subnormal-gradient" for code, _ in found)
