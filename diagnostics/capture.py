"""What each recurrent computation really sees inside the user's model, seen at its op.

Every recurrent layer op (``torch._VF.lstm``, ``gru``, ``rnn_tanh``,
``rnn_relu``) and cell op (``lstm_cell``, ``gru_cell``, ``rnn_*_cell``) run
in the probe pass is seen by a TorchFunctionMode, however it is reached, with
the weights it really got. For each layer (an nn.RNN/LSTM/GRU at any depth, or
a functional call named by its call site) the first call is recorded: the
input (padded, with lengths, when packed), the initial state, the gradient
arriving at its output and final state, and torch's own gradient of the loss
with respect to the layer's input (the check the rnnref replay must pass).
A layer called one step at a time, each call from the previous call's final
state (a decoder), keeps every call until :meth:`Capture.finish` turns them
into one loop per layer (:attr:`Capture.chains`). For every cell stepped in a
Python loop, every call is recorded (:class:`CapturedCellLoop`): its input and state,
its output tensors (the graph of the loop is kept until :meth:`Capture.finish`
has run the end pass through it) and the real gradient arriving at each
step's hidden output. Every module's outputs are also watched for the first
non-finite value, forward and backward.
"""

from __future__ import annotations

import contextlib
import functools
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence
from torch.overrides import TorchFunctionMode

from diagnostics.asrun import cell_as_run, layer_as_run, layer_cell, own_weights, weight_sources
from rnnref.cells import CELL_TYPES
from rnnref_cli.command import InternalError


def _torch_classes(attribute: str) -> tuple[type[nn.Module], ...]:
    """The torch.nn classes the registered cell types name in ``attribute`` (rnnref.cells)."""
    names = (getattr(cell, attribute) for cell in CELL_TYPES.values())
    return tuple(dict.fromkeys(getattr(nn, name) for name in names if name is not None))


LAYER_CLASSES = _torch_classes("torch_layer")
"""nn.RNN, nn.LSTM, nn.GRU: the recurrent layers a capture probes."""

CELL_CLASSES = _torch_classes("torch_cell")
"""nn.RNNCell, nn.LSTMCell, nn.GRUCell: the cells a capture probes when stepped in a loop."""


def module_label(path: str, module: nn.Module) -> str:
    """How findings name the module at ``path`` of ``model.named_modules()``: its path, or
    its class name for the model itself (path "")."""
    return path or type(module).__name__


@dataclass
class CapturedCellLoop:
    """Every call of one cell in the probe pass, in call order (step t = call t).

    inputs: T tensors (B, I); hx: T previous states (a (h, c) pair for an
    LSTMCell), zeros where the call got None; outputs: T live output tensors
    (h, or (h, c)), until :meth:`Capture.finish` has used the graph. After it:
    states (T, B, H) each step's h output; grad_states (T, B, H) real dL/dh_t
    (zeros where none arrived), end_states (T, B, H) dL/dh_t of the end pass (a
    seeded unit vector per sequence on the last step's h), end_cells likewise
    for c (LSTMCell) or None; error: why the loop cannot be probed (steps of
    different shapes), else None. Unbatched calls are stored with B = 1.
    """

    name: str
    module: nn.RNNCellBase
    inputs: list[torch.Tensor] = field(default_factory=list)
    hx: list[Any] = field(default_factory=list)
    detached: list[bool] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    grads: dict[int, torch.Tensor] = field(default_factory=dict)
    states: np.ndarray | None = None
    grad_states: np.ndarray | None = None
    end_states: np.ndarray | None = None
    end_cells: np.ndarray | None = None
    error: str | None = None


@dataclass
class LayerCall:
    """The first call of one recurrent layer's op, as float64 NumPy arrays in its layout.

    x: (T, B, I), or (B, T, I) if batch_first (an unbatched call is the op's batch of
    1); zero past each length when the input was packed (sequences in the packed
    order). lengths: (B,) ints or None. hx: the initial state the op got, (L*D, B, H)
    (a (h0, c0) tuple for an LSTM; zeros where the caller gave none). grad_out: like
    the output, dL/d(out); grad_hn: like h_n (tuple for LSTM), zeros where no
    gradient arrived. grad_input: torch's dL/dx, like x. chunks: per call, [steps,
    detached]: the call's time steps and whether its initial state is the previous
    call's final state cut from the graph (.detach()), so no gradient crosses it.
    module: the layer that ran (the user's module, or a copy holding the weights the
    op really got, e.g. weight-dropped). weight_sources: for each weight that is not
    a Parameter, the Parameters it comes from (:func:`diagnostics.asrun.weight_sources`).
    """

    name: str
    module: nn.RNNBase
    packed: bool
    x: np.ndarray
    lengths: np.ndarray | None
    hx: Any
    calls: int = 1
    chunks: list[list] = field(default_factory=list)
    grad_out: np.ndarray | None = None
    grad_hn: Any = None
    grad_input: np.ndarray | None = None
    weight_sources: list[dict[str, Any]] = field(default_factory=list)
    _tensors: dict[str, Any] = field(default_factory=dict, repr=False)
    _chain: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def steps(self) -> int:
        """T, the call's time steps."""
        return self.x.shape[self._time_axis]

    def output_gradient_steps(self) -> int:
        """How many time steps of the layer's output the loss reads (its gradient is not zero)."""
        other = tuple(axis for axis in range(self.grad_out.ndim) if axis != self._time_axis)
        return int(np.count_nonzero(np.any(self.grad_out != 0, axis=other)))

    @property
    def _time_axis(self) -> int:
        return 1 if self.x.ndim == 3 and self.module.batch_first else 0

    @property
    def batch(self) -> int | None:
        """B, the call's sequences (None for an unbatched call)."""
        return None if self.x.ndim == 2 else self.x.shape[1 - self._time_axis]

    def narrowed(self, keep: np.ndarray) -> LayerCall:
        """The call restricted to the sequences ``keep`` (indices into B, sorted): its
        input, initial state, lengths and captured gradients (each sequence of a batch runs
        on its own, so the replay of these is theirs in the whole batch)."""
        axis = 1 - self._time_axis

        def take(value: Any, along: int) -> Any:
            if value is None:
                return None
            if isinstance(value, tuple):
                return tuple(np.take(part, keep, axis=along) for part in value)
            return np.take(value, keep, axis=along)

        return replace(
            self,
            x=take(self.x, axis),
            hx=take(self.hx, 1),
            lengths=take(self.lengths, 0),
            grad_out=take(self.grad_out, axis),
            grad_hn=take(self.grad_hn, 1),
            grad_input=take(self.grad_input, axis),
        )

    def sampled(self, count: int, rng: np.random.Generator) -> LayerCall:
        """:meth:`narrowed` to ``count`` of the call's sequences drawn with ``rng`` (the call
        itself when it is unbatched or has no more)."""
        if self.batch is None or self.batch <= count:
            return self
        return self.narrowed(np.sort(rng.choice(self.batch, count, replace=False)))

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
    first ran. Recurrent layers are captured at their operation
    (``torch._VF.lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``, seen by a
    TorchFunctionMode): however the layer is reached (called, its ``forward``
    called directly, or the functional op), with the weights that really ran.
    A call is attributed to the nn.RNN/LSTM/GRU whose weights it got (or a
    weight-dropped copy of them); a functional call is named by its call site
    (``model.py:42``). Gradients are filled in by ``loss.backward()``; call
    :meth:`finish` after it to convert them. Any exception raised by this
    code inside the user's forward or backward is an :class:`InternalError`.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers: dict[str, LayerCall] = {}
        self.cells: dict[str, CapturedCellLoop] = {}
        self.chains: dict[str, list[CapturedCellLoop]] = {}
        self.nonfinite = NonFinite()
        self._states: set[int] = set()  # ids of every final state a recurrent module returned
        self._handles: list[Any] = []
        self._recurrent: dict[nn.RNNBase | nn.RNNCellBase, str] = {}
        self._parameters: dict[str, torch.Tensor] = {}
        self._parameter_ids: set[int] = set()
        self._mode: _RecurrentOps | None = None

    def __enter__(self) -> Capture:
        self._parameters = dict(self.model.named_parameters())
        self._parameter_ids = {id(p) for p in self._parameters.values()}
        for name, module in self.model.named_modules():
            label = module_label(name, module)
            if isinstance(module, LAYER_CLASSES + CELL_CLASSES):
                self._recurrent[module] = label
            self._handles.append(module.register_forward_hook(_guarded(self._watch(label))))
        self._mode = _RecurrentOps(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None

    @property
    def keeps_graph(self) -> bool:
        """Whether the backward must keep the graph for :meth:`finish`'s end passes (cell
        loops, or calls of one layer chained through their state)."""
        return bool(self.cells) or any(
            call.calls > 1 and call._chain is not None for call in self.layers.values()
        )

    # ------------------------------------------------------------ recurrent layers

    def _owner(self, weights: list[torch.Tensor]) -> tuple[str, nn.Module | None]:
        """The module whose weights list (or one of whose Parameters) the op got, else the
        call site's ``file.py:line``."""
        for module, name in self._recurrent.items():
            if weights is getattr(module, "_flat_weights", None):
                return name, module
        for module, name in self._recurrent.items():
            own = {id(p) for p in module.parameters(recurse=False)}
            if any(id(w) in own for w in weights):
                return name, module
        return _call_site(), None

    def _foreign(self, weights: list[torch.Tensor]) -> bool:
        """Whether an op's weights include a Parameter of another model than the watched one
        (a second model run while the capture is installed: a teacher, an EMA copy)."""
        return any(
            isinstance(w, nn.Parameter) and id(w) not in self._parameter_ids for w in weights
        )

    def _before(self, op: str, args: tuple) -> tuple[tuple, LayerCall, bool] | None:
        """The op's arguments with a fresh input node on a layer's first call, its record and
        whether this is the first call; None for a call these probes cannot read or one of
        another model's layers."""
        packed = isinstance(args[3], list | tuple)
        if packed:
            data, batch_sizes, hx, weights, bias, layers, dropout, train, bidir = args
            batch_first = False
        else:
            data, hx, weights, bias, layers, dropout, train, bidir, batch_first = args
            batch_sizes = None
            if data.dim() != 3:
                return None
        steps = int(batch_sizes.numel()) if packed else int(data.shape[1 if batch_first else 0])
        parts = tuple(hx) if isinstance(hx, list | tuple) else (hx,)
        name, owner = self._owner(weights)
        if owner is None and self._foreign(weights):
            return None
        call = self.layers.get(name)
        if call is not None:
            previous = call._tensors.get("last_h_n")
            call.calls += 1
            call.chunks.append([steps, _cut_from(parts, previous)])
            chained = previous is not None and all(
                _carried(h, p) for h, p in zip(parts, previous, strict=True)
            )
            if call._chain is not None and chained and steps == 1 and not packed and not bidir:
                call._chain.append({"x": data.detach().reshape(-1, data.shape[-1])})
            else:
                call._chain = None
            return args, call, False
        fresh = data.view_as(data) if data.requires_grad else data.detach().requires_grad_()
        args = (fresh, *args[1:])
        if own_weights(owner, weights):
            module = owner
        else:
            module = layer_as_run(op, weights, bias, layers, dropout, train, bidir, batch_first)
        call = LayerCall(
            name=name,
            module=module,
            packed=packed,
            x=np.empty(0),
            lengths=None,
            hx=_state_numpy(parts if len(parts) > 1 else parts[0]),
        )
        if owner is not None:
            call.weight_sources = weight_sources(
                name, list(owner._flat_weights_names), list(weights), self._parameters
            )
        call._tensors["x"] = PackedSequence(fresh, batch_sizes) if packed else fresh
        call.chunks.append([steps, False])
        if steps == 1 and not packed and not bidir and module.proj_size == 0:
            call._chain = [{"x": data.detach().reshape(-1, data.shape[-1])}]
        if fresh.requires_grad:
            fresh.register_hook(_guarded(self._store(call, "grad_input")))
        self.layers[name] = call
        return args, call, True

    def _after(self, call: LayerCall, first: bool, result: tuple, batch_sizes: Any) -> None:
        """Record a layer call's outputs and hook their gradients."""
        out, parts = result[0], tuple(result[1:])
        call._tensors["last_h_n"] = parts
        self._states.update(map(id, parts))
        if call._chain is not None:
            step = call._chain[-1]
            step.update(out=out, state=parts)
            for key, tensor in (("out", out), *((f"state{i}", p) for i, p in enumerate(parts))):
                if tensor.requires_grad:
                    tensor.register_hook(_guarded(self._store_chain(step, key)))
        if not first:
            return
        h_n = parts if len(parts) > 1 else parts[0]
        call._tensors["out"] = PackedSequence(out, batch_sizes) if call.packed else out
        call._tensors["h_n"] = h_n
        if out.requires_grad:
            out.register_hook(_guarded(self._store(call, "grad_out")))
        for i, part in enumerate(parts):
            if part.requires_grad:
                part.register_hook(_guarded(self._store(call, f"grad_hn{i}")))

    @staticmethod
    def _store(call: LayerCall, key: str) -> Any:
        def hook(grad: torch.Tensor | None) -> None:
            if grad is not None:  # None: this output is not on the loss's path
                call._tensors[key] = grad.detach()

        return hook

    @staticmethod
    def _store_chain(step: dict[str, Any], key: str) -> Any:
        def hook(grad: torch.Tensor | None) -> None:
            if grad is not None:
                step["grad_" + key] = grad.detach()

        return hook

    # ------------------------------------------------------------ cell loops

    def _cell_call(self, op: str, args: tuple, output: Any) -> None:
        """Record one call of a cell op (``torch._VF.lstm_cell`` and its siblings: input
        (B, I), state (B, H) or an (h, c) pair, weights) in its module's
        :class:`CapturedCellLoop`."""
        x, hx, weights = args[0], args[1], [w for w in args[2:] if w is not None]
        name, owner = self._owner(weights)
        if owner is None and self._foreign(weights):
            return
        if isinstance(owner, LAYER_CLASSES):  # a hand-written loop stepping a layer's weights
            name, owner = _call_site(), None
        loop = self.cells.get(name)
        if loop is None:
            module = owner
            if owner is None or not all(isinstance(w, nn.Parameter) for w in weights):
                module = cell_as_run(op, args[2:])
            loop = self.cells[name] = CapturedCellLoop(name, module)
        parts = output if isinstance(output, tuple) else (output,)
        hx = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
        previous = loop.outputs[-1] if loop.outputs else None
        loop.detached.append(_cut_from(hx, previous))
        step = len(loop.outputs)
        loop.inputs.append(x.detach())
        loop.hx.append(tuple(h.detach() for h in hx))
        loop.outputs.append(parts)
        self._states.update(map(id, parts))
        if parts[0].requires_grad:
            parts[0].register_hook(_guarded(self._store_step(loop, step)))

    @staticmethod
    def _store_step(loop: CapturedCellLoop, step: int) -> Any:
        def hook(grad: torch.Tensor | None) -> None:
            if grad is not None:
                loop.grads[step] = grad.detach()

        return hook

    def _finish_cells(self, seed: int) -> None:
        """The end pass of each cell loop through its real autograd graph, then free it."""
        for loop in self.cells.values():
            shapes = {
                (tuple(x.shape), tuple(parts[0].shape))
                for x, parts in zip(loop.inputs, loop.outputs, strict=True)
            }
            if len(shapes) != 1:
                loop.error = f"its steps have outputs of different shapes {sorted(shapes)}"
            else:
                hidden = [parts[0] for parts in loop.outputs]
                cells = [parts[1] for parts in loop.outputs if len(parts) > 1]
                size = hidden[0].shape[-1]
                zeros = torch.zeros_like(hidden[0]).reshape(-1, size)
                loop.states = np.stack([_numpy(h).reshape(-1, size) for h in hidden])
                loop.grad_states = np.stack(
                    [_numpy(loop.grads.get(t, zeros)) for t in range(len(hidden))]
                )
                loop.end_states, loop.end_cells = _end_pass(hidden, cells, seed)
            loop.outputs.clear()
            loop.grads.clear()

    def recompute_cells(self) -> None:
        """Rebuild each cell loop's graph from its captured inputs and states, for a
        backward that did not keep it (the user's own, in ``diagnostics.watch``).

        Steps run again in order, each from the previous step's new output where the
        loop fed its output back, else from the state it was given; only the end
        pass differentiates through them (``torch.autograd.grad``: no ``.grad`` is
        touched). A loop that did more between steps than feed the state back is
        recomputed as plain feedback, so its end pass is that of the cell itself.
        """
        for loop in self.cells.values():
            loop.outputs = _rerun(loop)

    def kept_states(self, model: nn.Module) -> list[str]:
        """Attributes of the model's modules (``model.hidden``) that hold a final state a
        recurrent module returned in this pass, still attached to its graph: the next call
        that starts from it backpropagates into this pass's graph. Call before finish."""
        found = []
        for module_name, module in model.named_modules():
            for attr, value in vars(module).items():
                parts = value if isinstance(value, tuple | list) else (value,)
                if any(
                    isinstance(p, torch.Tensor) and p.grad_fn is not None and id(p) in self._states
                    for p in parts
                ):
                    found.append(".".join(filter(None, ("model", module_name, attr))))
        return found

    def finish(self, seed: int = 0, graph_kept: bool = True) -> None:
        """Convert inputs and the gradients that arrived to NumPy (zeros where none did); run
        each cell loop's end pass (``seed`` draws its unit vectors). A layer whose calls are
        all one step chained through their state becomes one loop per layer in
        :attr:`chains` (and leaves :attr:`layers`), probed through time across its calls;
        its end pass goes through the calls' real graph where the backward kept it
        (``graph_kept``: :attr:`keeps_graph`), else through the layer's cell run again
        over the captured steps, feeding its state back (as :meth:`recompute_cells`)."""
        self._finish_cells(seed)
        for name, call in list(self.layers.items()):
            if call.calls > 1 and call._chain is not None:
                self.chains[name] = _chain_loops(call, seed, graph_kept)
                del self.layers[name]
            call._chain = None
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
        self._states.clear()

    # ------------------------------------------------------------ non-finite watch

    def _watch(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(module, LAYER_CLASSES + CELL_CLASSES):  # the state as it returns it
                state = output[1] if isinstance(module, LAYER_CLASSES) else output
                self._states.update(map(id, state if isinstance(state, tuple) else (state,)))
            tensors = list(_float_tensors(output))
            if any(_not_finite(t) for t in tensors):
                self.nonfinite.forward.append(name)
            for tensor in tensors:
                if tensor.requires_grad:
                    tensor.register_hook(_guarded(self._watch_grad(name)))

        return hook

    def _watch_grad(self, name: str) -> Any:
        def hook(grad: torch.Tensor | None) -> None:
            if grad is not None and _not_finite(grad) and name not in self.nonfinite.backward:
                self.nonfinite.backward.append(name)

        return hook


class _RecurrentOps(TorchFunctionMode):
    """Sees every recurrent layer op run while it is entered and records it in its capture.

    nn.RNN/LSTM/GRU.forward computes with one op, ``torch._VF.lstm`` (``gru``,
    ``rnn_tanh``, ``rnn_relu``), which dispatches through ``__torch_function__``
    (torch 2.1 and later): a mode sees it however the layer is reached, called, its
    ``forward`` called directly (AWD-LSTM's weight drop), or the op called by the
    user, and sees the weights the op really got. Hooks per module see only calls
    through ``module(...)``, and patching ``torch._VF`` only the callers that look the
    op up there.
    """

    def __init__(self, capture: Capture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(self, func, types, args=(), kwargs=None):
        op = getattr(func, "__name__", None)
        if not kwargs and op in _CELL_OPS and func == _CELL_OPS[op] and len(args) == 6:
            result = func(*args)
            _guarded(self.capture._cell_call)(op, args, result)
            return result
        if kwargs or op not in _OPS or func != _OPS[op] or len(args) != 9:
            return func(*args, **(kwargs or {}))
        prepared = _guarded(self.capture._before)(op, args)
        if prepared is None:
            return func(*args)
        args, call, first = prepared
        result = func(*args)  # the user's own error, if any, raised as it is
        batch_sizes = args[1] if call.packed else None
        _guarded(self.capture._after)(call, first, result, batch_sizes)
        return result


_OPS = {
    cell.torch_op: getattr(torch._C._VariableFunctions, cell.torch_op)
    for cell in CELL_TYPES.values()
    if cell.torch_op is not None
}
"""The recurrent layer ops, by name (all take 9 positional arguments)."""

_CELL_OPS = {op + "_cell": getattr(torch._C._VariableFunctions, op + "_cell") for op in _OPS}
"""The recurrent cell ops: (input, hx, w_ih, w_hh, b_ih, b_hh)."""

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SUITE = tuple(
    os.path.join(_ROOT, package) + os.sep
    for package in ("diagnostics", "usermodel", "bench", "rnnref", "reports")
)
_EXAMPLES = os.path.join(_ROOT, "diagnostics", "examples") + os.sep  # user code
_TORCH = os.path.dirname(torch.__file__) + os.sep


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with any exception it raises made an :class:`InternalError`: code of this
    suite running inside the user's forward or backward (a hook) must never be reported as
    the user's model failing."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            raise InternalError(f"{type(exc).__name__}: {exc}") from exc

    return run


def _call_site() -> str:
    """``file.py:LINE`` of the innermost frame outside torch and this suite (a functional
    recurrent op called by the user), or ``recurrent op`` when there is none."""
    for frame in reversed(traceback.extract_stack()):
        name = frame.filename
        if name.startswith(_EXAMPLES) or not name.startswith((*_SUITE, _TORCH, "<")):
            return f"{os.path.basename(name)}:{frame.lineno}"
    return "recurrent op"


VIEW_STEPS = 4
"""Most autograd nodes between a state given to a call and the state the call before
returned, for the two to count as one state (``h.squeeze(0)``, then ``.unsqueeze(0)``)."""


def _carried(given: torch.Tensor, returned: torch.Tensor) -> bool:
    """Whether ``given`` is the state ``returned`` by the previous call, or a view of it in
    its graph (reshaped between calls, as decoders squeeze and unsqueeze h); not a detached
    or recomputed copy."""
    if given is returned:
        return True
    if given.shape != returned.shape or given.data_ptr() != returned.data_ptr():
        return False
    node, target = given.grad_fn, returned.grad_fn
    for _ in range(VIEW_STEPS):
        if node is None or target is None:
            return False
        if node is target:
            return True
        parents = [parent for parent, _ in node.next_functions if parent is not None]
        if len(parents) != 1:
            return False
        node = parents[0]
    return False


def _chain_loops(call: LayerCall, seed: int, graph_kept: bool) -> list[CapturedCellLoop]:
    """One finished :class:`CapturedCellLoop` per layer of a layer called one step at a time, each
    call starting from the previous call's final state (a decoder stepped per token).

    Step t of layer l: input x_t (layer 0) or layer l-1's h_t, state the h_n[l] (and c_n[l])
    of call t; its real dL/dh_t is the gradient that reached h_n[l] of call t, plus that of
    the call's output for the top layer (h_n[-1] and the output are the same h_t); the end
    pass seeds a unit vector per sequence on the last call's h_n[l] and differentiates the
    calls' real graph (what the model does between calls included, as for cell loops), or,
    without ``graph_kept``, the layer's cell run again over the steps, its state fed back.
    """
    steps = call._chain
    layer = call.module
    first_hx = call.hx if isinstance(call.hx, tuple) else (call.hx,)
    outs = [step["out"] for step in steps]
    states = [step["state"] for step in steps]  # per call: (h_n,) or (h_n, c_n), (L, B, H)
    wanted = [t for t in outs + [s for parts in states for s in parts] if t.requires_grad]
    loops = []
    for index in range(layer.num_layers):
        loop = CapturedCellLoop(call.name, layer_cell(layer, index))
        for t, step in enumerate(steps):
            below = step["x"] if index == 0 else states[t][0][index - 1].detach()
            previous = (
                tuple(torch.from_numpy(h[index]).to(below) for h in first_hx)
                if t == 0
                else tuple(part[index].detach() for part in states[t - 1])
            )
            loop.inputs.append(below.reshape(-1, below.shape[-1]))
            loop.hx.append(previous)
            loop.detached.append(False)
        hidden = [parts[0][index] for parts in states]
        size = hidden[0].shape[-1]
        loop.states = np.stack([_numpy(h).reshape(-1, size) for h in hidden])
        real = []
        for t, step in enumerate(steps):
            grad = step.get("grad_state0", torch.zeros_like(states[t][0]))[index]
            if index == layer.num_layers - 1 and "grad_out" in step:
                grad = grad + step["grad_out"].reshape(grad.shape)
            real.append(_numpy(grad).reshape(-1, size))
        loop.grad_states = np.stack(real)
        if graph_kept:
            loop.end_states, loop.end_cells = _chain_end_pass(outs, states, wanted, index, seed)
        else:
            loop.end_states, loop.end_cells = _recomputed_end_pass(loop, seed)
        loops.append(loop)
    return loops


def _rerun(loop: CapturedCellLoop) -> list[tuple[torch.Tensor, ...]]:
    """``loop``'s cell run again over its captured inputs, with a graph: each step from the
    previous step's output, or from the state it was given where the loop cut it (and at
    the first step). Returns each step's output, (h,) or (h, c)."""
    previous, outputs = None, []
    with torch.enable_grad():
        for x, hx, cut in zip(loop.inputs, loop.hx, loop.detached, strict=True):
            state = hx if cut or previous is None else previous
            out = loop.module(x, state if len(state) > 1 else state[0])
            previous = out if isinstance(out, tuple) else (out,)
            outputs.append(previous)
    return outputs


def _recomputed_end_pass(loop: CapturedCellLoop, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_end_pass` through ``loop``'s cell run again (:func:`_rerun`; no ``.grad`` is
    touched)."""
    outputs = _rerun(loop)
    return _end_pass(
        [parts[0] for parts in outputs], [c for parts in outputs for c in parts[1:]], seed
    )


def _chain_end_pass(
    outs: list[torch.Tensor],
    states: list[tuple[torch.Tensor, ...]],
    wanted: list[torch.Tensor],
    index: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """dL/dh_t (and dL/dc_t) of layer ``index`` at every call for L = sum(u * h_n[index]) of
    the last call, u a seeded unit vector per sequence: (T, B, H) arrays (None without c).

    outs: per call the output (1, B, H) or (B, 1, H); states: per call (h_n,) or (h_n, c_n),
    each (L, B, H); wanted: those of them that require grad.
    """
    found = _grads_from_end(states[-1][0][index], wanted, seed)

    def grad_of(tensor: torch.Tensor) -> torch.Tensor:
        return found.get(id(tensor), torch.zeros_like(tensor))

    top = index == states[0][0].shape[0] - 1
    hidden, cells = [], []
    for out, parts in zip(outs, states, strict=True):
        grad = grad_of(parts[0])[index]
        if top:
            grad = grad + grad_of(out).reshape(grad.shape)
        hidden.append(_numpy(grad))
        if len(parts) > 1:
            cells.append(_numpy(grad_of(parts[1])[index]))
    return np.stack(hidden), np.stack(cells) if cells else None


def _grads_from_end(
    last: torch.Tensor, wanted: list[torch.Tensor], seed: int
) -> dict[int, torch.Tensor]:
    """d(sum(u * last))/dt for each tensor t of ``wanted`` the graph reaches, by id(t): u a
    seeded random unit vector per sequence, shaped like ``last`` (B, H) or (H,)."""
    if not last.requires_grad:
        return {}
    values = np.random.default_rng(seed).standard_normal(tuple(last.shape))
    values /= np.linalg.norm(values, axis=-1, keepdims=True)
    grads = torch.autograd.grad(
        last,
        wanted,
        grad_outputs=torch.from_numpy(values).to(last.device, last.dtype),
        retain_graph=True,
        allow_unused=True,
    )
    return {id(t): g for t, g in zip(wanted, grads, strict=True) if g is not None}


def _end_pass(
    hidden: list[torch.Tensor], cells: list[torch.Tensor], seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """dL/dh_t (and dL/dc_t) for L = sum(u * h_T): u a seeded unit vector per sequence.

    hidden, cells: the T step outputs of a loop, each (B, H) or unbatched (H,).
    Returns (T, B, H) arrays (zeros where no path leads to h_T) and None without cells.
    """
    last = hidden[-1]
    steps = hidden + cells
    found = _grads_from_end(last, [t for t in steps if t.requires_grad], seed)
    arrays = [_numpy(found[id(t)]) if id(t) in found else np.zeros(tuple(t.shape)) for t in steps]
    shape = (len(hidden), -1, last.shape[-1])
    states = np.stack(arrays[: len(hidden)]).reshape(shape)
    return states, (np.stack(arrays[len(hidden) :]).reshape(shape) if cells else None)


def _steps(x: Any, batch_first: bool) -> int:
    """Time steps of a recurrent layer's input (padded length of a PackedSequence)."""
    if isinstance(x, PackedSequence):
        return int(x.batch_sizes.numel())
    return int(x.shape[1] if x.dim() == 3 and batch_first else x.shape[0])


def _cut_from(hx: Any, previous: Any) -> bool:
    """Whether the state ``hx`` is ``previous`` (a state the module returned, which carries
    a graph) with the graph cut: equal values, no gradient."""
    if hx is None or previous is None:
        return False
    hx = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
    previous = tuple(previous) if isinstance(previous, tuple | list) else (previous,)
    return (
        len(hx) == len(previous)
        and all(p.requires_grad for p in previous)
        and not any(h.requires_grad for h in hx)
        and all(
            h.shape == p.shape and torch.equal(h, p.detach())
            for h, p in zip(hx, previous, strict=True)
        )
    )


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
    dropouts = {m: m.dropout for m in model.modules() if isinstance(m, LAYER_CLASSES)}
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
