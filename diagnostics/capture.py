"""Hooks that record what each recurrent layer really sees inside the user's model.

For every nn.RNN, nn.LSTM and nn.GRU at any depth, the first call of the probe
pass is recorded: the input (padded, with lengths, when it is a
PackedSequence), the initial state, the gradient arriving at its output and
final state, and torch's own gradient of the loss with respect to the layer's
input (the check the rnnref replay must pass). Every module's outputs are
also watched for the first non-finite value, forward and backward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


@dataclass
class LayerCall:
    """The first call of one recurrent module, as float64 NumPy arrays in the module's layout.

    x: (T, B, I), (B, T, I) if batch_first, or unbatched (T, I); zero past each
    length when the input was packed. lengths: (B,) ints or None. hx: like the
    module's hx argument (a (h0, c0) tuple for an LSTM) or None. grad_out: like
    the output, dL/d(out); grad_hn: like h_n (tuple for LSTM), zeros where no
    gradient arrived. grad_input: torch's dL/dx, like x.
    """

    name: str
    module: nn.RNNBase
    packed: bool
    x: np.ndarray
    lengths: np.ndarray | None
    hx: Any
    calls: int = 1
    grad_out: np.ndarray | None = None
    grad_hn: Any = None
    grad_input: np.ndarray | None = None
    _tensors: dict[str, Any] = field(default_factory=dict, repr=False)

    def unscale(self, scale: float) -> None:
        """Divide the captured gradients by ``scale`` (a GradScaler's factor)."""
        self.grad_out = self.grad_out / scale
        self.grad_input = self.grad_input / scale
        if isinstance(self.grad_hn, tuple):
            self.grad_hn = tuple(part / scale for part in self.grad_hn)
        else:
            self.grad_hn = self.grad_hn / scale


@dataclass
class NonFinite:
    """Where a NaN or Inf first appeared: module names in the order the values were produced."""

    forward: list[str] = field(default_factory=list)
    backward: list[str] = field(default_factory=list)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()


def _padded(data: torch.Tensor, like: PackedSequence, batch_first: bool) -> torch.Tensor:
    return pad_packed_sequence(like._replace(data=data), batch_first=batch_first)[0]


def _float_tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, PackedSequence):
        value = value.data
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _float_tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _float_tensors(item)


def _not_finite(tensor: torch.Tensor) -> bool:
    return not bool(torch.isfinite(tensor).all())


class Capture:
    """Install with ``with Capture(model) as cap:``; read ``cap.layers`` and ``cap.nonfinite``.

    ``layers`` maps module name to :class:`LayerCall`, in the order the layers
    first ran. Gradients are filled in by ``loss.backward()``; call
    :meth:`finish` after it to convert them.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers: dict[str, LayerCall] = {}
        self.nonfinite = NonFinite()
        self._handles: list[Any] = []

    def __enter__(self) -> Capture:
        for name, module in self.model.named_modules():
            label = name or type(module).__name__
            if isinstance(module, RECURRENT):
                self._handles.append(
                    module.register_forward_pre_hook(self._pre_hook(label), with_kwargs=True)
                )
                self._handles.append(
                    module.register_forward_hook(self._post_hook(label), with_kwargs=True)
                )
            self._handles.append(module.register_forward_hook(self._watch(label)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # ------------------------------------------------------------ recurrent layers

    def _pre_hook(self, name: str) -> Any:
        def hook(module: nn.RNNBase, args: tuple, kwargs: dict) -> Any:
            if name in self.layers:
                self.layers[name].calls += 1
                return None
            args = list(args)
            x = args[0] if args else kwargs["input"]
            data = x.data if isinstance(x, PackedSequence) else x
            # A node used by this layer alone, so its gradient is the one through the layer.
            fresh = data.view_as(data) if data.requires_grad else data.detach().requires_grad_()
            new_x = x._replace(data=fresh) if isinstance(x, PackedSequence) else fresh
            if args:
                args[0] = new_x
            else:
                kwargs["input"] = new_x
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            call = LayerCall(
                name=name,
                module=module,
                packed=isinstance(x, PackedSequence),
                x=np.empty(0),
                lengths=None,
                hx=None if hx is None else _state_numpy(hx),
            )
            call._tensors["x"] = new_x
            fresh.register_hook(self._store(call, "grad_input"))
            self.layers[name] = call
            return tuple(args), kwargs

        return hook

    def _post_hook(self, name: str) -> Any:
        def hook(module: nn.RNNBase, args: tuple, kwargs: dict, output: Any) -> None:
            call = self.layers[name]
            if "out" in call._tensors:
                return
            out, h_n = output
            call._tensors["out"] = out
            call._tensors["h_n"] = h_n
            out_data = out.data if isinstance(out, PackedSequence) else out
            if out_data.requires_grad:
                out_data.register_hook(self._store(call, "grad_out"))
            for i, part in enumerate(h_n if isinstance(h_n, tuple) else (h_n,)):
                if part.requires_grad:
                    part.register_hook(self._store(call, f"grad_hn{i}"))

        return hook

    @staticmethod
    def _store(call: LayerCall, key: str) -> Any:
        def hook(grad: torch.Tensor) -> None:
            call._tensors[key] = grad.detach()

        return hook

    def finish(self) -> None:
        """Convert inputs and the gradients that arrived to NumPy (zeros where none did)."""
        for call in self.layers.values():
            t = call._tensors
            x, out, h_n = t["x"], t["out"], t["h_n"]
            batch_first = call.module.batch_first
            grad_out = t.get("grad_out")
            if grad_out is None:
                grad_out = torch.zeros_like(out.data if call.packed else out)
            grad_in = t.get("grad_input")
            if grad_in is None:
                grad_in = torch.zeros_like(x.data if call.packed else x)
            if call.packed:
                padded, lengths = pad_packed_sequence(x, batch_first=batch_first)
                call.x = _numpy(padded)
                call.lengths = lengths.numpy().astype(np.int64)
                call.grad_out = _numpy(_padded(grad_out, out, batch_first))
                call.grad_input = _numpy(_padded(grad_in, x, batch_first))
            else:
                call.x = _numpy(x)
                call.grad_out = _numpy(grad_out)
                call.grad_input = _numpy(grad_in)
            parts = h_n if isinstance(h_n, tuple) else (h_n,)
            grads = [
                _numpy(t[f"grad_hn{i}"]) if f"grad_hn{i}" in t else np.zeros(part.shape)
                for i, part in enumerate(parts)
            ]
            call.grad_hn = tuple(grads) if isinstance(h_n, tuple) else grads[0]
            call._tensors.clear()

    # ------------------------------------------------------------ non-finite watch

    def _watch(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            tensors = list(_float_tensors(output))
            if any(_not_finite(t) for t in tensors):
                self.nonfinite.forward.append(name)
            for tensor in tensors:
                if tensor.requires_grad:
                    tensor.register_hook(self._watch_grad(name))

        return hook

    def _watch_grad(self, name: str) -> Any:
        def hook(grad: torch.Tensor) -> None:
            if _not_finite(grad) and name not in self.nonfinite.backward:
                self.nonfinite.backward.append(name)

        return hook


def _state_numpy(hx: Any) -> Any:
    if isinstance(hx, tuple | list):
        return tuple(_numpy(part) for part in hx)
    return _numpy(hx)


@contextlib.contextmanager
def probe_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode for the probe pass, restored afterwards.

    Dropout and batch statistics are off so the pass is deterministic and the
    replay can match it. Recurrent layers run in training mode with their
    inter-layer dropout set to 0 (the same function as eval), because cuDNN
    refuses to backpropagate through an RNN in eval mode.
    """
    modes = {module: module.training for module in model.modules()}
    dropouts = {m: m.dropout for m in model.modules() if isinstance(m, RECURRENT)}
    model.eval()
    for module in dropouts:
        module.train()
        module.dropout = 0.0
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode
        for module, dropout in dropouts.items():
            module.dropout = dropout
