"""The outcome part's tasks, models and training recipe: plain torch, seeded.

Two synthetic tasks whose answer needs information from the start of the sequence:

- ``adding`` (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): input
  (B, T, 2), channel 0 values U(0, 1), channel 1 a marker on one step in the first
  half and one in the second; target (B, 1) the sum of the two marked values; MSE.
  Predicting the mean 1 scores the variance of the sum, 1/6 = 0.167 (the baseline).
- ``recall``: input (B, T, K+1) one-hot, step 0 one of K classes (symbols 0..K-1),
  every later step the blank symbol K; target (B,) the class of step 0, read out
  after the last step; cross-entropy. Guessing scores ln K.

A model is one recurrent layer (nn.RNN tanh or ReLU, nn.LSTM, nn.GRU; batch first)
and a linear readout of its last step's output. Its initialisation is one of
INITS; the training recipe is RECIPE, the same for every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

HIDDEN = 32
"""Hidden units of every model."""

RECALL_CLASSES = 4
"""K, the classes of the recall task (chance cross-entropy ln 4 = 1.386)."""

BASELINE_LOSS = {"adding": 1 / 6, "recall": math.log(RECALL_CLASSES)}
"""The loss of the best input-blind answer: the mean (adding) or a uniform guess (recall)."""

LEARNED_FRACTION = 0.25
"""A run has learned when its held-out loss at the end is below this fraction of the
task's baseline loss: adding MSE < 0.042 (Le et al. 2015 plot 0.167 as the line a model
that learned nothing stays on), recall cross-entropy < 0.35 (about 90% correct)."""


@dataclass(frozen=True)
class Recipe:
    """How every run trains: Adam at ``lr``, ``steps`` steps of fresh batches of
    ``batch`` sequences, the gradient norm clipped at ``clip``; the outcome is the loss
    on one held-out batch of ``eval_batch`` sequences after the last step."""

    steps: int = 800
    batch: int = 32
    lr: float = 1e-2
    clip: float = 1.0
    eval_batch: int = 256

    @property
    def watched_steps(self) -> int:
        """The first tenth of the budget, the steps ``diagnostics.watch`` sees."""
        return max(self.steps // 10, 1)


RECIPE = Recipe()


def adding_batch(batch: int, steps: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (batch, steps, 2) float32, y (batch, 1): the adding problem (module docstring)."""
    values = torch.rand(batch, steps, generator=gen)
    half = max(steps // 2, 1)
    first = torch.randint(0, half, (batch,), generator=gen)
    second = torch.randint(half, steps, (batch,), generator=gen) if steps > 1 else first
    marks = torch.zeros(batch, steps)
    rows = torch.arange(batch)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    target = (values * marks).sum(dim=1, keepdim=True)
    return torch.stack((values, marks), dim=-1), target


def recall_batch(batch: int, steps: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (batch, steps, K+1) float32 one-hot, y (batch,) int64: the recall task."""
    k = RECALL_CLASSES
    label = torch.randint(0, k, (batch,), generator=gen)
    symbols = torch.full((batch, steps), k)
    symbols[:, 0] = label
    return nn.functional.one_hot(symbols, k + 1).float(), label


TASKS: dict[str, tuple[int, int, Callable[..., tuple[torch.Tensor, torch.Tensor]]]] = {
    "adding": (2, 1, adding_batch),
    "recall": (RECALL_CLASSES + 1, RECALL_CLASSES, recall_batch),
}
"""task -> (input features, readout outputs, batch maker(batch, steps, generator))."""


def task_loss(task: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The task's loss of the readout ``output`` (batch, outputs): MSE or cross-entropy."""
    if task == "adding":
        return nn.functional.mse_loss(output, target)
    return nn.functional.cross_entropy(output, target)


class Readout(nn.Module):
    """One recurrent layer, batch first, and a linear readout of the last step's output."""

    def __init__(self, rnn: nn.RNNBase, outputs: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, steps, features) -> (batch, outputs)."""
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _scale_hh(rnn: nn.RNNBase, factor: float) -> None:
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(factor)


def _orthogonal_hh(rnn: nn.RNNBase, factor: float) -> None:
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l0)
        rnn.weight_hh_l0.mul_(factor)


def _identity(rnn: nn.RNNBase) -> None:
    """IRNN (Le et al. 2015): W_hh = I, recurrent biases 0."""
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.eye(rnn.hidden_size))
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.zero_()


def _forget_bias(rnn: nn.RNNBase, value: float) -> None:
    """Both forget-gate bias rows (H:2H of bias_ih and bias_hh) set so they sum to ``value``."""
    h = rnn.hidden_size
    with torch.no_grad():
        rnn.bias_ih_l0[h : 2 * h].fill_(value / 2)
        rnn.bias_hh_l0[h : 2 * h].fill_(value / 2)


def _scale_ih(rnn: nn.RNNBase, factor: float) -> None:
    with torch.no_grad():
        rnn.weight_ih_l0.mul_(factor)


INITS: dict[str, Callable[[nn.RNNBase], None]] = {
    "default": lambda rnn: None,
    "identity": _identity,
    "shrunk-w_hh": lambda rnn: _scale_hh(rnn, 0.1),
    "grown-w_hh": lambda rnn: _orthogonal_hh(rnn, 3.0),
    "forget-bias+1": lambda rnn: _forget_bias(rnn, 1.0),
    "forget-bias-4": lambda rnn: _forget_bias(rnn, -4.0),
    "saturating-input": lambda rnn: _scale_ih(rnn, 30.0),
}
"""Initialisation -> what it does to torch's default: the identity W_hh of an IRNN; W_hh
x 0.1 (shrunk) or orthogonal x 3 (grown: every singular value 3, far above Pascanu's
bound 1); the LSTM forget-gate bias +1 (Gers et al. 2000; Jozefowicz et al. 2015) or -4
(a gate closed at sigmoid(-4) = 0.02); W_ih x 30 (inputs that saturate the gates)."""


def build(task: str, cell: str, init: str, seed: int) -> Readout:
    """The model of one run: ``cell`` (rnn_tanh, rnn_relu, lstm, gru) with ``init``."""
    features, outputs, _ = TASKS[task]
    torch.manual_seed(seed)
    if cell.startswith("rnn"):
        rnn: nn.RNNBase = nn.RNN(
            features, HIDDEN, nonlinearity=cell.removeprefix("rnn_"), batch_first=True
        )
    else:
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](features, HIDDEN, batch_first=True)
    INITS[init](rnn)
    return Readout(rnn, outputs)


def data_generator(seed: int, stream: int) -> torch.Generator:
    """The generator of a run's data: stream 0 the training batches, 1 the held-out batch,
    2 the batch the diagnosis at initialisation sees."""
    return torch.Generator().manual_seed(1000 * seed + stream)
