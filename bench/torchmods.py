"""Torch modules the backends run: the seeded layer, scriptable wrappers, a Python cell loop.

Shapes (time-major, as every case runs): x (T, B, I), lengths (B,) int64 on CPU,
out (T, B, D*H), h_n and c_n (L*D, B, H); D = 2 when bidirectional, L layers.
Every wrapper returns a list ``[out, h_n]`` (``[out, h_n, c_n]`` for LSTM) so that
TorchScript sees one static return type.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnref
from bench.cases import Case
from rnnref.cells import cell_type


def unbuildable_reason(cell: str) -> str | None:
    """Why no row of ``cell`` can run: every row is built as torch.nn's layer and checked
    against rnnref's (rnnref.CELL_TYPES names both); None when both exist."""
    record = cell_type(cell)
    if record.torch_layer is None or record.torch_cell is None:
        return f"{cell}: torch.nn has no layer and cell class computing it"
    if record.reference_layer is None:
        return f"{cell}: rnnref has no layer to check its rows against"
    return None


def make_layer(case: Case, seed: int) -> nn.RNNBase:
    """The case's nn.RNN/LSTM/GRU in float32 on CPU, eval mode, weights seeded by ``seed``."""
    record = cell_type(case.cell)
    kwargs = dict(
        num_layers=case.num_layers,
        bidirectional=case.bidirectional,
        **record.torch_kwargs(),
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        layer = getattr(nn, record.torch_layer)(case.input_size, case.hidden_size, **kwargs)
    finally:
        torch.random.set_rng_state(generator_state)
    return layer.eval()


def qualname(obj: object) -> str:
    """``module.Class`` of an object's type: how ``module`` in a run file names what ran."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class SeqWrapper(nn.Module):
    """Runs nn.RNN / nn.GRU (or a quantized one) on a padded batch, packing it if lengths given."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        if lengths is None:
            out, h_n = self.rnn(x)
            return [out, h_n]
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out_packed, h_n = self.rnn(packed)
        out, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])
        return [out, h_n]


class LSTMWrapper(nn.Module):
    """Runs nn.LSTM (or a quantized one) on a padded batch, packing it if lengths given."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        if lengths is None:
            out, (h_n, c_n) = self.rnn(x)
            return [out, h_n, c_n]
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out_packed, (h_n, c_n) = self.rnn(packed)
        out, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])
        return [out, h_n, c_n]


def wrap(layer: nn.Module, cell: str) -> nn.Module:
    """The wrapper for ``layer``: a parent module, so quantize_dynamic can swap the layer."""
    return LSTMWrapper(layer) if cell_type(cell).cell_state else SeqWrapper(layer)


def reverse_within(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:  # noqa: UP045
    """Reverse each sequence of x (T, B, F) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0]).unsqueeze(1)  # (T, 1)
    lens = lengths.unsqueeze(0)  # (1, B)
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (T, B)
    return x.gather(0, index.unsqueeze(2).expand_as(x).to(x.device))


class CellLoop(nn.Module):
    """The from-scratch way: a Python loop over nn.RNNCell / LSTMCell / GRUCell.

    Shares the Parameter objects of ``layer`` (so gradients land under torch's names).
    With lengths, each sequence's state freezes after its own length, its outputs are
    zero there, and the reverse direction starts at its own last step (packed semantics).
    """

    def __init__(self, layer: nn.RNNBase, cell: str) -> None:
        super().__init__()
        record = cell_type(cell)
        self.cell_state = record.cell_state
        self.hidden_size = layer.hidden_size
        self.directions = 2 if layer.bidirectional else 1
        step_class, kwargs = getattr(nn, record.torch_cell), record.torch_kwargs()
        self.cells = nn.ModuleList()
        for index in range(layer.num_layers):
            layer_input = layer.input_size if index == 0 else self.directions * layer.hidden_size
            for direction in range(self.directions):
                suffix = rnnref.param_suffix(index, direction)
                step = step_class(layer_input, layer.hidden_size, bias=layer.bias, **kwargs)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    if hasattr(layer, name + suffix):
                        setattr(step, name, getattr(layer, name + suffix))
                self.cells.append(step)

    def _run(
        self, cell: nn.Module, seq: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One direction of one layer over seq (T, B, F): outputs (T, B, H), h and c (B, H)."""
        batch = seq.shape[1]
        h = seq.new_zeros(batch, self.hidden_size)
        c = seq.new_zeros(batch, self.hidden_size)
        outputs = []
        for t in range(seq.shape[0]):
            if self.cell_state:
                h_new, c_new = cell(seq[t], (h, c))
            else:
                h_new, c_new = cell(seq[t], h), c
            if mask is None:
                h, c = h_new, c_new
                outputs.append(h)
            else:
                valid = mask[t]  # (B, 1)
                h = torch.where(valid, h_new, h)
                c = torch.where(valid, c_new, c)
                outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
        return torch.stack(outputs), h, c

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        mask = None
        if lengths is not None:
            mask = (torch.arange(x.shape[0]).unsqueeze(1) < lengths.unsqueeze(0)).unsqueeze(2)
            mask = mask.to(x.device)  # (T, B, 1)
        layer_input, h_n, c_n = x, [], []
        for first in range(0, len(self.cells), self.directions):
            outputs = []
            for direction in range(self.directions):
                cell = self.cells[first + direction]
                seq = reverse_within(layer_input, lengths) if direction else layer_input
                out, h, c = self._run(cell, seq, mask)
                outputs.append(reverse_within(out, lengths) if direction else out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=2)
        result = [layer_input, torch.stack(h_n)]
        return [*result, torch.stack(c_n)] if self.cell_state else result
