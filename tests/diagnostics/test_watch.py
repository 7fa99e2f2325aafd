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
