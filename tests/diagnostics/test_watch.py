"""diagnostics.watch in training loops written the way the PyTorch tutorials write them.

TensorBoard files are read back with TensorBoard's own EventAccumulator.
"""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.tensorboard import SummaryWriter

import diagnostics
from diagnostics.monitor import Monitor

VOCAB, STEPS, EVERY = 30, 12, 4


class WordLM(nn.Module):
    """pytorch/examples word_language_model, small: embedding, 2-layer LSTM, dropout, decoder."""

    def __init__(self, hidden: int = 24) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(VOCAB, 16)
        self.rnn = nn.LSTM(16, hidden, 2, dropout=0.2)
        self.decoder = nn.Linear(hidden, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.drop(self.encoder(tokens)))
        return self.decoder(self.drop(output))


def batches(steps: int = STEPS) -> list[tuple[torch.Tensor, torch.Tensor]]:
    data = torch.randint(0, VOCAB, (steps, 21, 4), generator=torch.Generator().manual_seed(0))
    return [(chunk[:-1], chunk[1:]) for chunk in data]  # (T, B) inputs and next tokens


def train(model, monitor, optimizer=None, steps=STEPS):
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.5)
    criterion = nn.CrossEntropyLoss()
    for x, y in batches(steps):
        loss = criterion(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        monitor.step(loss)
        optimizer.step()
        optimizer.zero_grad()


def scalars(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def test_language_model_loop_writes_findings_report_and_curves(tmp_path):
    torch.manual_seed(0)
    model = WordLM()
    with diagnostics.watch(model, log_dir=tmp_path, every=EVERY) as monitor:
        train(model, monitor)
    doc = json.loads((tmp_path / "findings.json").read_text())
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert doc["probes"]["watch"]["sampled_steps"] == [0, 4, 8]
    assert doc["probes"]["training"]["sampled_steps"] == [0, 4, 8]
    (module,) = doc["modules"]
    # Inter-layer dropout is off on sampled steps, so the replay matches torch's gradient.
    assert module["replay_trusted"] is True
    assert module["replay_agreement"] < 1e-3
    assert model.rnn.dropout == 0.2  # restored
    records = doc["probes"]["recurrent"]
    assert {(r["layer"], r["direction"]) for r in records} == {(0, 0), (1, 0)}
    assert all(len(r["states_norm"]) == 20 and r["h_n_norm"] > 0 for r in records)

    events = scalars(tmp_path)
    assert [e.step for e in events.Scalars("train/loss")] == [0, 4, 8]
    losses = [e.value for e in events.Scalars("train/loss")]
    assert losses == pytest.approx(doc["probes"]["training"]["losses"], rel=1e-6)
    for tag in (
        "horizon/rnn/l1_forward",
        "hidden/rnn/l0_forward/h_n_norm",
        "spectrum/rnn/l0_forward/f",
    ):
        assert [e.step for e in events.Scalars(tag)] == [0, 4, 8], tag
    assert "gates/rnn/l0_forward/f" in events.Tags()["histograms"]


def test_no_hook_between_sampled_steps(tmp_path):
    model = WordLM()
    criterion = nn.CrossEntropyLoss()

    def hooks() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    with diagnostics.watch(model, log_dir=tmp_path, every=3) as monitor:
        armed = [hooks()]
        for x, y in batches(6):
            criterion(model(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
            monitor.step(torch.tensor(0.0))
            armed.append(hooks())
            model.zero_grad()
    assert armed[0] > 0  # step 0 is sampled
    assert armed[1:] == [0, 0, armed[0], 0, 0, armed[0]]  # armed only before steps 3 and 6
    assert hooks() == 0  # removed on exit


def test_rerun_into_same_log_dir_does_not_duplicate_curves(tmp_path):
    for _ in range(2):
        model = WordLM()
        with diagnostics.watch(model, log_dir=tmp_path, every=EVERY) as monitor:
            train(model, monitor)
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2  # nothing deleted
    assert [e.step for e in scalars(tmp_path).Scalars("train/loss")] == [0, 4, 8]


def test_users_own_writer_is_written_to_and_left_open(tmp_path):
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    model = WordLM()
    with diagnostics.watch(model, log_dir=tmp_path / "diag", writer=writer, every=EVERY) as m:
        train(model, m)
    writer.add_scalar("mine/accuracy", 0.5, 12)  # still open
    writer.close()
    tags = scalars(tmp_path / "tb").Tags()["scalars"]
    assert "mine/accuracy" in tags and "train/loss" in tags
    assert not list((tmp_path / "diag").glob("events.out.tfevents.*"))
    assert (tmp_path / "diag" / "findings.json").exists()


def test_optimizer_on_other_parameters_is_found(tmp_path):
    model = WordLM()
    stale = WordLM()  # the optimizer was built before the model was replaced: a classic
    with diagnostics.watch(model, log_dir=tmp_path, every=EVERY) as monitor:
        train(model, monitor, optimizer=torch.optim.Adam(stale.parameters()))
    codes = {f["code"]: f for f in monitor.findings["findings"]}
    assert codes["parameters-not-updated"]["severity"] == "error"


def test_working_optimizer_is_not_flagged(tmp_path):
    model = WordLM()
    with diagnostics.watch(model, log_dir=tmp_path, every=EVERY) as monitor:
        train(model, monitor)
    assert "parameters-not-updated" not in {f["code"] for f in monitor.findings["findings"]}


def test_exploding_rnn_is_found_at_the_steps_it_explodes(tmp_path):
    torch.manual_seed(0)
    rnn = nn.RNN(8, 32)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(8.0)
    model = nn.Sequential()  # a tanh RNN scaled up, under a linear head
    head = nn.Linear(32, 1)
    model.rnn, model.head = rnn, head
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    with diagnostics.watch(model, log_dir=tmp_path, every=2) as monitor:
        for _ in range(4):
            out, _ = rnn(torch.randn(40, 4, 8))
            loss = head(out).pow(2).mean()
            loss.backward()
            monitor.step(loss)
            optimizer.step()
            optimizer.zero_grad()
    found = {f["code"]: f for f in monitor.findings["findings"]}
    assert "exploding-gradient" in found or "saturation" in found
    assert found[next(iter(found))]["evidence"]["steps"]


def test_ctrl_c_in_the_loop_keeps_what_was_probed(tmp_path):
    model = WordLM()
    with pytest.raises(KeyboardInterrupt), diagnostics.watch(model, log_dir=tmp_path, every=2) as m:
        for i, (x, y) in enumerate(batches(5)):
            nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
            m.step(torch.tensor(1.0))
            model.zero_grad()
            if i == 2:
                raise KeyboardInterrupt
    doc = json.loads((tmp_path / "findings.json").read_text())
    assert doc["probes"]["watch"]["sampled_steps"] == [0, 2]


def test_step_before_backward_is_refused(tmp_path):
    model = WordLM()
    monitor = diagnostics.watch(model, log_dir=tmp_path)
    x, _ = batches(1)[0]
    loss = model(x).sum()
    with pytest.raises(RuntimeError, match=r"after loss\.backward\(\)"):
        monitor.step(loss)


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_bad_every_is_refused(tmp_path, every):
    with pytest.raises(ValueError, match="every"):
        diagnostics.watch(WordLM(), log_dir=tmp_path, every=every)


@pytest.mark.parametrize("sequences", [0, -2, 1.5, True])
def test_bad_sequences_is_refused(tmp_path, sequences):
    with pytest.raises(ValueError, match="sequences"):
        diagnostics.watch(WordLM(), log_dir=tmp_path, sequences=sequences)


@pytest.mark.parametrize("sequences, replayed", [(None, 4), (2, 2), (8, 4)])
def test_each_sampled_step_replays_some_sequences_of_its_batch(tmp_path, sequences, replayed):
    """Batches of 4 sequences: ``sequences`` of them replayed at each sampled step (all of
    them when the batch holds no more)."""
    torch.manual_seed(0)
    model = WordLM()
    with diagnostics.watch(model, tmp_path, every=EVERY, sequences=sequences) as monitor:
        train(model, monitor, steps=EVERY + 1)
    records = monitor.findings["probes"]["recurrent"]
    assert records and {r["batch"] for r in records} == {replayed}
    assert all(m["replay_trusted"] for m in monitor.findings["modules"])


class TokenDecoder(nn.Module):
    """A seq2seq decoder written as the tutorials write it: its 2-layer LSTM called once
    per target token, ``(h, c)`` carried from call to call, teacher forcing."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.rnn = nn.LSTM(8, 16, num_layers=2)
        self.out = nn.Linear(16, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        state, logits = None, []
        for token in tokens:  # (B,) per step
            step, state = self.rnn(self.embed(token)[None], state)
            logits.append(self.out(step[0]))
        return torch.stack(logits)


def test_a_decoder_stepped_one_token_per_call_is_probed_across_its_calls(tmp_path):
    """The user's backward freed the calls' graph: the end pass runs the layer's cells
    again over the captured steps, and the real gradient crosses the calls."""
    torch.manual_seed(0)
    model = TokenDecoder()
    with diagnostics.watch(model, tmp_path, every=EVERY) as monitor:
        train(model, monitor, steps=EVERY + 1)
    records = [r for r in monitor.findings["probes"]["recurrent"] if r["module"] == "rnn"]
    assert [(r["layer"], r["steps"], r["chained"]) for r in records] == [
        (0, 20, True),
        (1, 20, True),
    ]
    for record in records:
        assert record["end_curve"][0] == 1.0 and 0 < record["end_curve"][5] < 1
    assert records[-1]["steps_reached"] == 20  # the top layer's output is read at each step
    (module,) = monitor.findings["modules"]
    assert module["calls"] == 20 and module["stepped"]
    assert "repeated-calls" not in {f["code"] for f in monitor.findings["findings"]}


def test_diagnose_in_memory_with_the_users_loss():
    model = WordLM()
    x, y = batches(1)[0]
    doc = diagnostics.diagnose(
        model,
        x,
        loss_fn=lambda out: nn.functional.cross_entropy(out.reshape(-1, VOCAB), y.reshape(-1)),
    )
    assert doc["probes"]["objective"] == "the given loss_fn of the output"
    assert doc["target"] == "WordLM"
    assert doc["modules"][0]["replay_trusted"] is True


def run_training(watched: bool, tmp_path, steps: int = 8) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = WordLM()  # dropout everywhere: the RNG state matters
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    criterion = nn.CrossEntropyLoss()
    monitor = diagnostics.watch(model, log_dir=tmp_path, every=3) if watched else None
    for x, y in batches(steps):
        loss = criterion(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        if monitor:
            monitor.step(loss)
        optimizer.step()
        optimizer.zero_grad()
    if monitor:
        monitor.close()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_watched_run_ends_with_the_same_weights_as_an_unwatched_one(tmp_path):
    plain, watched = run_training(False, tmp_path), run_training(True, tmp_path)
    assert all(torch.equal(plain[k], watched[k]) for k in plain)


def test_a_second_model_run_between_steps_is_not_probed_as_the_watched_ones(tmp_path):
    """A teacher (or an EMA copy, or the unwatched twin of a benchmark) called between two
    watched steps runs while the capture is installed: its layer is not the watched model's."""
    torch.manual_seed(0)
    watched, teacher = nn.LSTM(4, 8), nn.GRU(4, 8)
    optimizer = torch.optim.SGD(watched.parameters(), lr=0.01)
    with diagnostics.watch(watched, log_dir=tmp_path, every=2) as monitor:
        for _ in range(4):
            x = torch.randn(6, 3, 4)
            target, _ = teacher(x)  # the teacher runs after the capture is armed
            out, _ = watched(x)
            loss = (out - target.detach()).pow(2).mean()
            loss.backward()
            monitor.step(loss)
            optimizer.step()
            optimizer.zero_grad()
    layers = monitor.findings["probes"]["recurrent"]
    assert {layer["cell"] for layer in layers} == {"lstm"}, layers
    assert [m["name"] for m in monitor.findings["modules"]] == ["LSTM"]


def test_forget_gate_saturating_during_training_is_reported_from_that_step(tmp_path):
    torch.manual_seed(0)
    lstm, head = nn.LSTM(4, 8), nn.Linear(8, 1)
    model = nn.ModuleDict({"lstm": lstm, "head": head})
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    hidden = lstm.hidden_size
    with diagnostics.watch(model, log_dir=tmp_path, every=2) as monitor:
        for _ in range(16):
            out, _ = lstm(torch.randn(20, 4, 4))
            forget_bias = lstm.bias_ih_l0[hidden : 2 * hidden]
            # A crafted loss: the task, plus a term pushing the forget bias up by 1 per step.
            loss = head(out).pow(2).mean() - forget_bias.sum()
            loss.backward()
            monitor.step(loss)
            optimizer.step()
            optimizer.zero_grad()
    saturation = [f for f in monitor.findings["findings"] if f["code"] == "saturation"]
    assert saturation, monitor.findings["findings"]
    first = saturation[0]["evidence"]["first_step"]
    history = {
        h["step"]: h["layers"][0]["saturation"]
        for h in monitor.findings["probes"]["watch"]["history"]
    }
    assert first > 0 and history[0] < 0.2  # healthy at the start
    assert history[first] >= 0.2 and all(history[s] < 0.2 for s in history if s < first)
    assert f"from step {first}" in saturation[0]["summary"]


def test_nan_entering_at_a_known_step_is_named_with_step_and_module(tmp_path):
    torch.manual_seed(0)
    model = nn.ModuleDict({"encoder": nn.GRU(4, 8), "head": nn.Linear(8, 1)})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with diagnostics.watch(model, log_dir=tmp_path, every=2) as monitor:
        for step in range(8):
            x = torch.randn(10, 3, 4)
            if step == 6:
                x[4, 1, 2] = float("nan")  # a corrupt sample in batch 6
            out, _ = model["encoder"](x)
            loss = model["head"](out).pow(2).mean()
            loss.backward()
            monitor.step(loss)
            optimizer.step()
            optimizer.zero_grad()
    (finding,) = [f for f in monitor.findings["findings"] if f["code"] == "non-finite"][:1]
    assert finding["severity"] == "error"
    assert finding["evidence"]["first_step"] == 6
    assert finding["module"] == "encoder"
    assert "step 4" in finding["summary"]  # the time step inside the sequence


def test_amp_grad_scaler_gradients_are_unscaled(tmp_path):
    torch.manual_seed(0)
    model = WordLM()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    x, y = batches(1)[0]
    with diagnostics.watch(model, log_dir=tmp_path, every=1) as monitor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB).float(), y.reshape(-1))
        scaler.scale(loss).backward()
        monitor.step(loss, scaler=scaler)
        scaler.unscale_(optimizer)
        true_norm = float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]))
        scaler.step(optimizer)
        scaler.update()
    probed = monitor.findings["probes"]["whole_model"]["global_grad_norm"]
    assert probed == pytest.approx(true_norm, rel=1e-5)
    assert monitor.findings["probes"]["watch"]["sampled_steps"] == [0]


def test_a_gru_cell_decoder_loop_is_probed_per_step(tmp_path):
    """A seq2seq-style decoder stepping nn.GRUCell in a Python loop, fed its own output."""
    torch.manual_seed(0)
    cell, head = nn.GRUCell(5, 12), nn.Linear(12, 5)
    model = nn.ModuleDict({"cell": cell, "head": head})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with diagnostics.watch(model, log_dir=tmp_path, every=2) as monitor:
        for _ in range(4):
            h, y, outputs = torch.zeros(3, 12), torch.zeros(3, 5), []
            for _ in range(15):
                h = cell(y, h)
                y = head(h)
                outputs.append(y)
            loss = torch.stack(outputs).pow(2).mean()
            loss.backward()
            monitor.step(loss)
            optimizer.step()
            optimizer.zero_grad()
    (module,) = monitor.findings["modules"]
    assert module["type"] == "GRUCell" and module["calls"] == 15
    (record,) = monitor.findings["probes"]["recurrent"]
    assert record["stepped"] and record["steps"] == 15
    # The end pass ran through the loop's graph, rebuilt after the user's backward freed it.
    curve = record["end_curve"]
    assert len(curve) == 15 and curve[0] == pytest.approx(1.0) and 0 < curve[-1] < 1
    assert all(v is not None and v > 0 for v in record["grad_states_norm"])  # the real dL/dh_t
    events = scalars(tmp_path)
    assert [e.step for e in events.Scalars("decay_per_step/cell/l0_forward")] == [0, 2]


class LastStepLSTM(nn.Module):
    """A classifier on the last of 200 steps, weights scaled down so that the gradient fades
    about 3-fold per step, through float32's subnormal range (as in test_bugs)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 6, batch_first=True)
        self.head = nn.Linear(6, 3)
        with torch.no_grad():
            self.lstm.weight_hh_l0.mul_(0.05)
            self.lstm.weight_ih_l0.mul_(0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.dropout(self.lstm(x)[0][:, -1], 0.2, self.training))


def run_subnormal_training(log_dir, watched: bool) -> tuple[dict, dict | None]:
    torch.manual_seed(0)
    model = LastStepLSTM()  # dropout after the layer: the RNG state matters
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = torch.randn(5, 4, 200, 5, generator=torch.Generator().manual_seed(1))
    monitor = diagnostics.watch(model, log_dir=log_dir, every=2) if watched else None
    for x in data:
        loss = model(x).square().mean()
        loss.backward()
        if monitor:
            monitor.step(loss)
        optimizer.step()
        optimizer.zero_grad()
    doc = monitor.close() if monitor else None
    return {k: v.clone() for k, v in model.state_dict().items()}, doc


def test_subnormal_cure_is_measured_once_and_leaves_the_training_as_it_was(tmp_path):
    plain, _ = run_subnormal_training(tmp_path / "plain", watched=False)
    watched, doc = run_subnormal_training(tmp_path / "watched", watched=True)
    assert all(torch.equal(plain[k], watched[k]) for k in plain)
    (finding,) = [f for f in doc["findings"] if f["code"] == "subnormal-gradient"]
    speedup = finding["evidence"]["speedup"]
    assert isinstance(speedup, float) and speedup > 0
    assert finding["severity"] == ("warning" if speedup >= 2.0 else "info")
    assert finding["evidence"]["steps"] == [0, 2, 4]
    (module,) = doc["modules"]
    assert module["flush_denormal"]["speedup"] == speedup  # measured at step 0 only


def test_anomaly_detection_in_the_loop_is_a_warning(tmp_path):
    with torch.autograd.set_detect_anomaly(True):
        monitor = diagnostics.watch(WordLM(), log_dir=tmp_path, every=EVERY)
        with monitor:
            train(monitor.model, monitor, steps=2)
    (finding,) = [f for f in monitor.findings["findings"] if f["code"] == "anomaly-detection-on"]
    assert finding["severity"] == "warning" and finding["evidence"]["steps"] == [0]


def test_a_monitor_without_report_writes_the_findings_alone(tmp_path):
    torch.manual_seed(0)
    model = nn.GRU(3, 4)
    monitor = Monitor(model, log_dir=tmp_path, every=1, report=False)
    out, _ = model(torch.randn(5, 2, 3))
    loss = out.pow(2).mean()
    loss.backward()
    monitor.step(loss)
    monitor.close()
    assert (tmp_path / "findings.json").is_file() and not (tmp_path / "report.html").exists()
