"""The fault corpus: small seeded models, healthy or with one injected fault each.

Every case is a sequence model (an nn.RNN, nn.LSTM or nn.GRU, 1 or 2 layers,
one or two directions, then a linear head on every step or on the last one)
with PyTorch's default initialisation, on N(0, 1) inputs of shape (8, T, 8);
a quarter of them pack the batch with lengths from T/2 to T.
A faulty case changes the weights in one way:

=================  ==========================================  =====================
fault              injection                                   expected code
=================  ==========================================  =====================
shrunk-w_hh        RNN: W_hh x 0.1; LSTM: forget bias -6;      vanishing-gradient
                   GRU: W_hh x 0.1 and update bias -6
grown-w_hh         RNN (tanh, ReLU): W_hh orthogonal x 1.5-4     exploding-gradient
saturating-input   W_ih x 30 (tanh RNN, LSTM, GRU)              saturation
negative-relu-bias ReLU RNN: all or half the biases -10         dead-units
non-finite-weight  one NaN or Inf entry in a weight or bias     non-finite
=================  ==========================================  =====================

The first four faults come in two placements: every layer and direction, or
only the first layer's forward direction of a stacked or bidirectional layer
(the diagnosis must find a fault below a healthy layer, too).

A fault also has consequences the diagnosis may rightly report: saturated
or dead units stop the gradient (vanishing-gradient), a closed forget gate is
a saturated gate. ``acceptable`` lists the codes that count as correct for a
case; an error finding with any other code is a false positive.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnref.cells import cell_type
from rnnref.interop import torch_cell_type

BATCH, FEATURES = 8, 8

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
SHAPES = ((1, False), (2, False), (1, True), (2, True))  # (num_layers, bidirectional)


class SeqModel(nn.Module):
    """A recurrent layer and a linear head on every step (or on the last step only).

    With ``lengths`` the batch is packed (sequences of different lengths) and
    the last-step head reads the final state h_n.
    """

    def __init__(
        self, rnn: nn.RNNBase, last_step: bool, lengths: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.rnn = rnn
        directions = 2 if rnn.bidirectional else 1
        self.head = nn.Linear(directions * rnn.hidden_size, 3)
        self.last_step = last_step
        self.lengths = lengths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, FEATURES) -> (B, 3) on the last step, or (B, T, 3)."""
        if self.lengths is None:
            out, _ = self.rnn(x)
            return self.head(out[:, -1] if self.last_step else out)
        packed = pack_padded_sequence(x, self.lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        if self.last_step:
            h_last = h_n[0] if isinstance(h_n, tuple) else h_n
            directions = 2 if self.rnn.bidirectional else 1
            return self.head(torch.cat(list(h_last[-directions:]), dim=-1))
        return self.head(pad_packed_sequence(out, batch_first=True)[0])


@dataclass(frozen=True)
class CorpusCase:
    """One corpus model: how to build it and what a diagnosis should find.

    ``build`` returns (model, input) or (model, input, target); ``steps``, ``lr``
    and ``loss`` are the diagnosis's --steps, --lr and --loss for the case.
    """

    name: str
    fault: str
    expected: str | None
    acceptable: frozenset[str]
    build: Callable[[], tuple[nn.Module, torch.Tensor]]
    location: tuple[int, int] | None = None  # (layer, direction) when one place holds the fault
    steps: int = 0
    lr: float = 1e-3
    loss: str = "mse"


def make_rnn(cell: str, layers: int, bidirectional: bool, hidden: int) -> nn.RNNBase:
    """A default-initialised recurrent layer, batch_first."""
    record = cell_type(cell)
    common = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": True}
    return getattr(nn, record.torch_layer)(FEATURES, hidden, **record.torch_kwargs(), **common)


def _weights(rnn: nn.RNNBase, prefix: str, first_only: bool) -> list[torch.Tensor]:
    """Parameters whose name starts with ``prefix``; with ``first_only``, layer 0 forward's."""
    return [
        p
        for name, p in rnn.named_parameters()
        if name.startswith(prefix) and (not first_only or name.endswith("_l0"))
    ]


def _gate_rows(rnn: nn.RNNBase, gate: str) -> slice:
    """Rows of ``gate`` in a stacked W_* or bias (its block in rnnref.CELL_TYPES' order)."""
    index = torch_cell_type(rnn).gate_names.index(gate)
    return slice(index * rnn.hidden_size, (index + 1) * rnn.hidden_size)


def shrink_w_hh(rnn: nn.RNNBase, rng: torch.Generator, first_only: bool) -> None:
    """Vanishing: W_hh x 0.1 (RNN, GRU), forget-gate bias -6 (LSTM), update-gate bias -6 (GRU)."""
    if isinstance(rnn, nn.LSTM):
        for bias in _weights(rnn, "bias_", first_only):
            bias[_gate_rows(rnn, "f")] = -6.0 / 2  # bias_ih + bias_hh = -6
        return
    for w in _weights(rnn, "weight_hh", first_only):
        w.mul_(0.1)
    if isinstance(rnn, nn.GRU):
        for bias in _weights(rnn, "bias_", first_only):
            bias[_gate_rows(rnn, "z")] = -6.0 / 2


def grow_w_hh(rnn: nn.RNNBase, rng: torch.Generator, first_only: bool) -> None:
    """Exploding: W_hh = gain x a random orthogonal matrix, gain 2.5 (ReLU) or 4 (tanh)."""
    gain = 2.5 if rnn.nonlinearity == "relu" else 4.0
    for w in _weights(rnn, "weight_hh", first_only):
        q, _ = torch.linalg.qr(torch.randn(w.shape, generator=rng))
        w.copy_(gain * q)


def saturate_inputs(rnn: nn.RNNBase, rng: torch.Generator, first_only: bool) -> None:
    """Saturation: W_ih x 30, so the pre-activations sit far outside the linear range."""
    for w in _weights(rnn, "weight_ih", first_only):
        w.mul_(30.0)


def kill_relu(rnn: nn.RNNBase, rng: torch.Generator, first_only: bool, fraction: float) -> None:
    """Dead units: bias -10 on ``fraction`` of the units of every layer and direction."""
    for bias in _weights(rnn, "bias_ih", first_only):
        units = torch.randperm(bias.numel(), generator=rng)[: int(fraction * bias.numel())]
        bias[units] = -10.0


def poison(rnn: nn.RNNBase, rng: torch.Generator, value: float) -> None:
    """Non-finite: one entry of one randomly chosen parameter set to NaN or Inf."""
    params = list(rnn.parameters())
    param = params[int(torch.randint(len(params), (1,), generator=rng))]
    flat = param.view(-1)
    flat[int(torch.randint(flat.numel(), (1,), generator=rng))] = value


FAULTS: dict[str, tuple[str, frozenset[str], tuple[str, ...]]] = {
    "shrunk-w_hh": ("vanishing-gradient", frozenset({"vanishing-gradient", "saturation"}), CELLS),
    "grown-w_hh": (
        "exploding-gradient",
        frozenset({"exploding-gradient", "saturation"}),
        ("rnn_tanh", "rnn_relu"),
    ),
    "saturating-input": (
        "saturation",
        frozenset({"saturation", "vanishing-gradient"}),
        ("rnn_tanh", "lstm", "gru"),
    ),
    "negative-relu-bias": (
        "dead-units",
        frozenset({"dead-units", "vanishing-gradient"}),
        ("rnn_relu",),
    ),
    "non-finite-weight": ("non-finite", frozenset({"non-finite"}), CELLS),
}
"""fault -> (expected code, acceptable codes, cells it applies to)."""


def _injector(fault: str, variant: int) -> Callable[[nn.RNNBase, torch.Generator, bool], None]:
    if fault == "shrunk-w_hh":
        return shrink_w_hh
    if fault == "grown-w_hh":
        return grow_w_hh
    if fault == "saturating-input":
        return saturate_inputs
    if fault == "negative-relu-bias":
        return lambda rnn, rng, first_only: kill_relu(
            rnn, rng, first_only, 1.0 if variant % 2 else 0.5
        )
    return lambda rnn, rng, _: poison(rnn, rng, float("nan") if variant % 2 else float("inf"))


def _builder(
    cell: str,
    layers: int,
    bidirectional: bool,
    seed: int,
    fault: str | None,
    variant: int,
    first_only: bool = False,
) -> Callable[[], tuple[nn.Module, torch.Tensor]]:
    def build() -> tuple[nn.Module, torch.Tensor]:
        rng = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        hidden = (16, 32)[seed % 2]
        steps = (30, 50)[(seed // 2) % 2]
        lengths = None
        if seed % 4 == 1:  # a packed batch: lengths from half to all of the steps
            lengths = torch.randint(steps // 2, steps + 1, (BATCH,), generator=rng)
            lengths[0] = steps
        rnn = make_rnn(cell, layers, bidirectional, hidden)
        model = SeqModel(rnn, last_step=seed % 3 == 0, lengths=lengths)
        if fault is not None:
            with torch.no_grad():
                _injector(fault, variant)(model.rnn, rng, first_only)
        x = torch.randn(BATCH, steps, FEATURES, generator=rng)
        return model, x

    return build


def corpus(healthy: int = 50, repeats: int = 1) -> list[CorpusCase]:
    """``healthy`` default-initialised cases and every fault on every cell and shape it applies to.

    ``repeats`` > 1 adds seeds per fault and shape: 1 gives 109 faulty cases.
    """
    cases = []
    configs = list(itertools.product(CELLS, SHAPES))
    for i in range(healthy):
        cell, (layers, bidi) = configs[i % len(configs)]
        name = f"healthy-{cell}-l{layers}{'-bi' if bidi else ''}-s{i}"
        build = _builder(cell, layers, bidi, 1000 + i, None, 0)
        cases.append(CorpusCase(name, "healthy", None, frozenset(), build))
    for fault, (expected, acceptable, cells) in FAULTS.items():
        variants = 2 if fault in ("negative-relu-bias", "non-finite-weight") else 1
        placements = (False,) if fault == "non-finite-weight" else (False, True)
        for cell, (layers, bidi), variant, first_only, repeat in itertools.product(
            cells, SHAPES, range(variants), placements, range(repeats)
        ):
            if first_only and layers == 1 and not bidi:
                continue  # the first layer's forward direction is the whole layer
            seed = 2000 + len(cases) + 97 * repeat
            where = "-first" if first_only else ""
            name = f"{fault}{where}-{cell}-l{layers}{'-bi' if bidi else ''}-v{variant}-s{seed}"
            build = _builder(cell, layers, bidi, seed, fault, variant, first_only)
            location = (0, 0) if first_only else None
            cases.append(CorpusCase(name, fault, expected, acceptable, build, location))
    return cases
