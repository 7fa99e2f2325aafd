"""The shapes a model's recurrent layers really see, recorded on one forward of the real input.

A forward pre-hook on every nn.RNN / LSTM / GRU (at any depth) reads the input each call
gets: a padded tensor (T, B, I), or (B, T, I) when ``batch_first``, or (T, I) unbatched;
or a PackedSequence, whose ``batch_sizes`` (T,) give the lengths and so the fill (mean
length / longest). Each layer becomes a shape string for ``python -m bench --shape``
(:func:`bench.cases.parse_shape`), e.g. ``lstm-b32-t40-i64-h96-l1-uni-packed-f0.62``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from rnnref.interop import torch_cell_type


@dataclass
class SeenLayer:
    """One recurrent module and the input its first call got."""

    module: str  # its name in model.named_modules()
    type: str  # LSTM, GRU, RNN
    shape: str | None  # for --shape; None where the matrix cannot run it (see note)
    batch: int
    seq_len: int
    batch_first: bool
    packed: bool
    fill: float
    calls: int = 1
    note: str = ""

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _describe(name: str, module: nn.RNNBase, x: Any) -> SeenLayer:
    if isinstance(x, PackedSequence):
        batch_sizes = x.batch_sizes  # (T,): sequences still running at each step
        seq_len, batch = len(batch_sizes), int(batch_sizes[0])
        lengths = (batch_sizes.unsqueeze(0) > torch.arange(batch).unsqueeze(1)).sum(1)  # (B,)
        fill = float(lengths.double().mean()) / seq_len
    else:
        if x.dim() == 2:  # unbatched (T, I)
            seq_len, batch = x.shape[0], 1
        elif module.batch_first:
            batch, seq_len = x.shape[0], x.shape[1]
        else:
            seq_len, batch = x.shape[0], x.shape[1]
        fill = 1.0
    packed = isinstance(x, PackedSequence)
    fill = round(fill, 2) if fill < 0.995 else 1.0
    direction = "bi" if module.bidirectional else "uni"
    shape = (
        f"{torch_cell_type(module).name}-b{batch}-t{seq_len}-i{module.input_size}-h{module.hidden_size}"
        f"-l{module.num_layers}-{direction}"
    )
    if packed:
        shape += f"-packed-f{fill:g}"
    notes = []
    if module.proj_size:
        notes.append(f"proj_size {module.proj_size}: the layer matrix has no projection")
    if not module.bias:
        notes.append("bias=False: the layer matrix runs layers with bias")
    return SeenLayer(
        module=name,
        type=type(module).__name__,
        shape=None if module.proj_size else shape,
        batch=int(batch),
        seq_len=int(seq_len),
        batch_first=bool(module.batch_first),
        packed=packed,
        fill=fill,
        note="; ".join(notes),
    )


def seen_layers(model: nn.Module, call: Any) -> list[SeenLayer]:
    """Run ``call()`` (one forward of the model) and return what each recurrent module saw
    on its first call, in call order; ``calls`` counts its calls."""
    seen: dict[str, SeenLayer] = {}
    handles = []

    def hook_for(name: str):
        def hook(module: nn.RNNBase, args: tuple, kwargs: dict) -> None:
            if name in seen:
                seen[name].calls += 1
                return
            x = args[0] if args else kwargs["input"]
            seen[name] = _describe(name, module, x)

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase):
            handles.append(module.register_forward_pre_hook(hook_for(name), with_kwargs=True))
    try:
        call()
    finally:
        for handle in handles:
            handle.remove()
    return list(seen.values())
