"""The callbacks of docs/watch.md, run in the frameworks' own training loops."""

import json

import pytest
import torch
from torch import nn

import diagnostics

L = pytest.importorskip("lightning", reason="Lightning is not installed (pip install lightning)")


class Tagger(L.LightningModule):
    """A Lightning sequence tagger: LSTM over features, a linear head per step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out, _ = self.lstm(x)
        loss = nn.functional.cross_entropy(self.head(out).reshape(-1, 3), y.reshape(-1))
        self.last_loss = loss
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class Watch(L.Callback):
    """docs/watch.md's callback, as written there."""

    def __init__(self, log_dir, every=100):
        self.log_dir, self.every = log_dir, every

    def on_fit_start(self, trainer, pl_module):
        self.monitor = diagnostics.watch(pl_module, log_dir=self.log_dir, every=self.every)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.monitor.step(pl_module.last_loss)

    def on_fit_end(self, trainer, pl_module):
        self.monitor.close()


def test_lightning_callback_probes_the_trainers_steps(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 12, 6, generator=generator)
    y = torch.randint(0, 3, (48, 12), generator=generator)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    trainer = L.Trainer(
        max_steps=9,
        accumulate_grad_batches=2,
        callbacks=[Watch(tmp_path / "diag", every=3)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(Tagger(), loader)
    doc = json.loads((tmp_path / "diag" / "findings.json").read_text())
    assert doc["probes"]["watch"]["steps_seen"] == 9  # optimizer steps, not micro-batches
    assert doc["probes"]["watch"]["sampled_steps"] == [0, 3, 6]
    assert doc["modules"][0]["replay_trusted"] is True
    codes = {f["code"] for f in doc["findings"]}
    assert "parameters-not-updated" not in codes
