"""RNN, LSTM and GRU: torch.nn's recurrent layers in NumPy, with backpropagation through time.

Shapes (time-major; ``batch_first`` swaps the first two axes of x and out):
T steps, B sequences, I input size, H hidden size, P output size per direction
(``proj_size`` for a projected LSTM, else H), D directions (1 or 2), L layers.

    x (T, B, I) or unbatched (T, I)
    hx (L*D, B, P); LSTM (h0 (L*D, B, P), c0 (L*D, B, H)); unbatched without B
    out (T, B, D*P); h_n like hx
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rnnref.cells import CELL_TYPES, CellType
from rnnref.recurrences import GRURecurrence, LSTMRecurrence, Recurrence, RNNRecurrence

Array = np.ndarray
State = Array | tuple[Array, Array]

PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")  # torch's order


def param_suffix(layer: int, direction: int) -> str:
    """torch's parameter-name suffix of one layer and direction, e.g. ``_l1_reverse``."""
    return f"_l{layer}" + ("_reverse" if direction else "")


@dataclass
class Gradients:
    """What ``backward`` returns: torch's names, shapes like the forward's arguments."""

    params: dict[str, Array]  # name -> gradient, same shape as the parameter; {} if not asked
    input: Array | None  # like x; None if not asked
    hx: State  # like hx: (L*D, B, P), or (grad_h0, grad_c0) for an LSTM


@dataclass
class LayerTrace:
    """One layer and direction of the last forward (and backward), time-major, real time order.

    inputs (T, B, I_layer); h0 (B, P); c0 (B, H) or None; states (T, B, P) h_t;
    cells (T, B, H) c_t or None; gates name -> (T, B, H) activations; mask (T, B)
    valid steps or None; grad_states (T, B, P) dL/dh_t and grad_cells (T, B, H)
    dL/dc_t (totals: through out_t and through step t + 1), None before backward.
    Past a sequence's length its state is carried unchanged and its gates are not
    computed (zero): read gates through ``mask``.
    """

    inputs: Array
    h0: Array
    c0: Array | None
    states: Array
    cells: Array | None
    gates: dict[str, Array]
    mask: Array | None
    grad_states: Array | None
    grad_cells: Array | None


@dataclass
class _ForwardCache:
    """What backward and trace need from the last forward. With lengths the layers ran
    on the batch sorted longest first ("sorted" below); otherwise in the caller's order.

    inputs: L arrays (T, B, I_layer), each layer's input (after dropout), sorted;
    runs: L lists of D recurrences, sorted; valid: (T, B) bool valid steps in the
    caller's order, valid_sorted: the same sorted (both None without lengths);
    order, inverse: (B,) the sorting permutation and its inverse, or None;
    masks_sorted: L - 1 dropout masks (T, B, D*P), sorted, or None;
    unbatched: x was (T, I); out_shape: (T, B, D*P), time-major.
    """

    inputs: list[Array]
    runs: list[list[Recurrence]]
    valid: Array | None
    valid_sorted: Array | None
    order: Array | None
    inverse: Array | None
    masks_sorted: list[Array] | None
    unbatched: bool
    out_shape: tuple[int, ...]


class RNNBase:
    """Shared by RNN, LSTM and GRU: parameters, layers, directions, lengths, dropout, BPTT.

    A cell's class owns what differs: ``gate_blocks``, how one direction's recurrence
    is built and run (``_recurrence``), the state's parts (``_initial_state``,
    ``_grad_final_state``, ``_as_state``) and the constructor arguments only it has
    (``cell_arguments``); the recurrence owns the trace fields it fills.
    """

    cell = ""  # torch's mode name, "rnn", "lstm" or "gru", for callers; set by the subclasses
    gate_blocks = 0  # G: gate blocks in W_ih and W_hh, read from the cell's record
    cell_type: CellType  # the record of the cell this layer computes (rnnref.cells)
    cell_arguments: tuple[str, ...] = ()  # torch's arguments only this cell has
    supports_projection = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        for name, value, low in (
            ("input_size", input_size, 1),
            ("hidden_size", hidden_size, 1),
            ("num_layers", num_layers, 1),
            ("proj_size", proj_size, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Real)
            or not 0.0 <= dropout <= 1.0
        ):
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        if proj_size and not self.supports_projection:
            raise ValueError(f"proj_size is only supported by LSTM, got proj_size={proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size, got proj_size={proj_size} "
                f"and hidden_size={hidden_size}"
            )
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.proj_size = int(num_layers), int(proj_size)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = proj_size or hidden_size
        self.training = True
        self.rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden_size)
        self.params = {
            name: self.rng.uniform(-bound, bound, shape).astype(self.dtype)
            for name, shape in self.param_shapes().items()
        }
        self._last: _ForwardCache | None = None

    # ----------------------------------------------------------------- parameters

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """torch's parameter names in torch's order, with their shapes."""
        gates = self.gate_blocks * self.hidden_size
        shapes = {}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.num_directions * self.output_size
            for direction in range(self.num_directions):
                suffix = param_suffix(layer, direction)
                shapes["weight_ih" + suffix] = (gates, layer_input)
                shapes["weight_hh" + suffix] = (gates, self.output_size)
                if self.bias:
                    shapes["bias_ih" + suffix] = (gates,)
                    shapes["bias_hh" + suffix] = (gates,)
                if self.proj_size:
                    shapes["weight_hr" + suffix] = (self.proj_size, self.hidden_size)
        return shapes

    def state_dict(self) -> dict[str, Array]:
        """Copies of the parameters under torch's names."""
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load parameters by torch's names; arrays, tensors or torch Parameters of exactly
        the right shapes, cast to the model's dtype (as torch's load_state_dict casts)."""
        if not isinstance(state, Mapping):
            raise ValueError(
                f"state_dict: expected a mapping of parameter names to arrays, "
                f"got {type(state).__name__}"
            )
        shapes = self.param_shapes()
        missing = [name for name in shapes if name not in state]
        unexpected = [name for name in state if name not in shapes]
        if missing or unexpected:
            raise ValueError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        loaded = {}
        for name, shape in shapes.items():
            value = np.asarray(_to_numpy(state[name]), dtype=self.dtype)
            if value.shape != shape:
                raise ValueError(f"state_dict: {name} has shape {value.shape}, expected {shape}")
            loaded[name] = value.copy()
        self.params = loaded

    @classmethod
    def from_torch(cls, module: Any, dtype: Any = None) -> RNNBase:
        """The same layer with the same weights; dtype None keeps the torch module's dtype."""
        from rnnref.interop import from_torch

        model = from_torch(module, dtype)
        if cls is not RNNBase and not isinstance(model, cls):
            raise ValueError(
                f"module: {cls.__name__}.from_torch needs a torch.nn.{cls.__name__}, "
                f"got {type(module).__name__}"
            )
        return model

    def to_torch(self) -> Any:
        """An equivalent torch.nn.RNN/LSTM/GRU on the CPU, with the same weights."""
        from rnnref.interop import to_torch

        return to_torch(self)

    def train(self, mode: bool = True) -> RNNBase:
        self.training = mode
        return self

    def eval(self) -> RNNBase:
        return self.train(False)

    def cell_kwargs(self) -> dict[str, Any]:
        """The constructor arguments only this cell has, e.g. ``{"nonlinearity": "tanh"}``."""
        return {name: getattr(self, name) for name in self.cell_arguments}

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value in self.cell_kwargs().items())
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
            f"num_layers={self.num_layers}, bias={self.bias}, batch_first={self.batch_first}, "
            f"dropout={self.dropout}, bidirectional={self.bidirectional}{extra}, "
            f"dtype={self.dtype.name})"
        )

    # ----------------------------------------------------------------- forward

    def __call__(
        self,
        x: Any,
        hx: Any = None,
        lengths: Any = None,
        dropout_masks: list[Array] | None = None,
    ) -> tuple[Array, State]:
        """Run all layers and directions; returns ``out, h_n`` (LSTM: ``out, (h_n, c_n)``).

        x and hx are arrays or torch tensors (detached; requiring grad is fine) of the
        weights' dtype: another dtype is refused, as torch refuses it (Python lists
        are converted). A zero-size batch B = 0 gives empty outputs.
        ``lengths`` (B integers in [1, T], any order, integral floats too) gives
        PackedSequence semantics.
        ``dropout_masks`` fixes the inter-layer dropout: L - 1 arrays (T, B, D*P) of
        0 or 1 / (1 - dropout); by default they are drawn from the model's generator
        when training. The masks used are kept in ``self.dropout_masks``.
        """
        x = self._of_weights_dtype("x", x)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"x: expected a 3-D batch or a 2-D unbatched sequence, got shape {x.shape}"
            )
        unbatched = x.ndim == 2
        if unbatched:
            if lengths is not None:
                raise ValueError("lengths: not supported for unbatched (2-D) input")
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        num_steps, batch, features = x.shape
        if features != self.input_size:
            raise ValueError(
                f"x: expected input_size {self.input_size} in the last axis, got shape "
                f"{tuple(x.shape if not self.batch_first else x.transpose(1, 0, 2).shape)}"
            )
        if num_steps == 0:
            raise ValueError(f"x: needs at least one step, got shape {x.shape}")
        h0, c0 = self._initial_state(hx, batch, unbatched)
        valid = self._valid_steps(lengths, num_steps, batch)
        masks = self._dropout_masks(dropout_masks, num_steps, batch)
        self.dropout_masks = masks

        # With lengths, the layers run on the batch sorted longest first, so the
        # sequences still running at step t are the first active[t] rows.
        order = inverse = active = valid_sorted = None
        if valid is not None:
            order = np.argsort(-valid.sum(axis=0), kind="stable")
            inverse = np.argsort(order)
            x, h0 = x[:, order], h0[:, order]
            c0 = None if c0 is None else c0[:, order]
            masks = None if masks is None else [mask[:, order] for mask in masks]
            valid_sorted = valid[:, order]
            active = valid_sorted.sum(axis=1)

        layer_input = np.ascontiguousarray(x)
        inputs, runs = [], []
        for layer in range(self.num_layers):
            if layer > 0 and masks is not None:
                layer_input = layer_input * masks[layer - 1]
            inputs.append(layer_input)
            directions = [
                self._run_direction(layer, direction, layer_input, h0, c0, active)
                for direction in range(self.num_directions)
            ]
            runs.append(directions)
            layer_input = np.concatenate([run.states for run in directions], axis=-1)
            if valid_sorted is not None:
                layer_input *= valid_sorted[..., None]
        out = layer_input

        flat_runs = [run for directions in runs for run in directions]
        h_n = np.stack([_last_step(run.states, run.reverse) for run in flat_runs])
        c_n = None
        if flat_runs[0].cells is not None:
            c_n = np.stack([_last_step(run.cells, run.reverse) for run in flat_runs])
        if inverse is not None:
            out, h_n = out[:, inverse], h_n[:, inverse]
            c_n = None if c_n is None else c_n[:, inverse]
        self._last = _ForwardCache(
            inputs=inputs,
            runs=runs,
            valid=valid,
            valid_sorted=valid_sorted,
            order=order,
            inverse=inverse,
            masks_sorted=masks,
            unbatched=unbatched,
            out_shape=out.shape,
        )
        state = self._as_state(h_n, c_n)
        return self._to_user_layout(out, unbatched), _squeeze_state(state, unbatched)

    def _run_direction(
        self,
        layer: int,
        direction: int,
        layer_input: Array,
        h0: Array,
        c0: Array | None,
        active: Array | None,
    ) -> Recurrence:
        """Project the input of all steps with one GEMM, then run the cell's recurrence."""
        suffix = param_suffix(layer, direction)
        p = {  # this direction's parameters by kind, read-only
            kind: _read_only(self.params[kind + suffix])
            for kind in PARAM_KINDS
            if kind + suffix in self.params
        }
        num_steps, batch, features = layer_input.shape
        xp = layer_input.reshape(-1, features) @ p["weight_ih"].T
        xp = xp.reshape(num_steps, batch, xp.shape[-1])
        index = layer * self.num_directions + direction
        return self._recurrence(
            p, xp, bool(direction), h0[index], None if c0 is None else c0[index], active
        )

    def _recurrence(
        self,
        p: dict[str, Array],
        xp: Array,
        reverse: bool,
        h0: Array,
        c0: Array | None,
        active: Array | None,
    ) -> Recurrence:
        """Add the biases the cell folds into ``xp`` (T, B, G*H), build its recurrence
        from this direction's parameters ``p`` and run it forward from h0 (B, P)."""
        raise NotImplementedError

    def _state_shapes(self, batch: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of the stacked h (L*D, B, P) and c (L*D, B, H)."""
        stacked = self.num_layers * self.num_directions
        return (stacked, batch, self.output_size), (stacked, batch, self.hidden_size)

    def _initial_state(self, hx: Any, batch: int, unbatched: bool) -> tuple[Array, Array | None]:
        """Return h0 (L*D, B, P), zeros by default, and None (an LSTM also has c0)."""
        h_shape, _ = self._state_shapes(batch)
        if hx is None:
            return np.zeros(h_shape, self.dtype), None
        if isinstance(hx, tuple | list):
            raise ValueError(f"hx: {type(self).__name__} takes one array, not a tuple")
        return self._check_state("hx", hx, h_shape, unbatched), None

    def _as_state(self, h: Array, c: Array | None) -> State:
        """What the caller gets for (h, c): h alone (an LSTM returns the pair)."""
        return h

    def _check_state(
        self, name: str, value: Any, shape: tuple[int, ...], unbatched: bool, cast: bool = False
    ) -> Array:
        """``value`` as an array (L*D, B, size) of the weights' dtype; ``cast`` converts a
        gradient of another dtype (as autograd does), else that dtype is refused."""
        if cast:
            value = np.asarray(_to_numpy(value), dtype=self.dtype)
        else:
            value = self._of_weights_dtype(name, value)
        expected = (shape[0], shape[2]) if unbatched else shape
        if value.shape != expected:
            raise ValueError(f"{name}: expected shape {expected}, got {value.shape}")
        return value[:, None, :] if unbatched else value

    def _of_weights_dtype(self, name: str, value: Any) -> Array:
        """An array or tensor of the weights' dtype as an array (no copy); another dtype
        is refused, as torch refuses it. Python numbers and lists are converted."""
        dtype = getattr(value, "dtype", None)
        if dtype is not None:
            if isinstance(dtype, np.dtype):
                same = dtype == self.dtype
            else:  # a torch dtype: torch.float32 and the like
                same = str(dtype).removeprefix("torch.") == self.dtype.name
            if not same:
                raise ValueError(
                    f"{name}: dtype {dtype} differs from the weights' {self.dtype}; "
                    f"convert it, or build the model with dtype={dtype}"
                )
        return np.asarray(_to_numpy(value), dtype=self.dtype)

    def _valid_steps(self, lengths: Any, num_steps: int, batch: int) -> Array | None:
        """Return the (T, B) bool mask of steps within each sequence, or None for all valid."""
        if lengths is None:
            return None
        lengths = np.asarray(_to_numpy(lengths))
        integral = np.issubdtype(lengths.dtype, np.integer) or (
            np.issubdtype(lengths.dtype, np.floating)
            and bool(np.all(np.isfinite(lengths) & (lengths == np.round(lengths))))
        )
        if lengths.shape != (batch,) or not integral:
            raise ValueError(
                f"lengths: expected {batch} integers (one per sequence), got "
                f"{lengths.dtype} array of shape {lengths.shape}"
            )
        if batch == 0:
            raise ValueError("lengths: a zero-size batch cannot be packed (torch refuses it too)")
        lengths = lengths.astype(np.int64)
        if lengths.min() < 1 or lengths.max() > num_steps:
            raise ValueError(
                f"lengths: each must be in [1, {num_steps}] (the number of steps), "
                f"got min {lengths.min()} and max {lengths.max()}"
            )
        if lengths.min() == num_steps:
            return None
        return np.arange(num_steps)[:, None] < lengths[None, :]

    def _dropout_masks(
        self, given: list[Array] | None, num_steps: int, batch: int
    ) -> list[Array] | None:
        """Inter-layer dropout masks, L - 1 arrays (T, B, D*P), or None when dropout is off."""
        shape = (num_steps, batch, self.num_directions * self.output_size)
        if given is not None:
            if len(given) != self.num_layers - 1:
                raise ValueError(
                    f"dropout_masks: expected {self.num_layers - 1} masks, got {len(given)}"
                )
            masks = [np.asarray(mask, dtype=self.dtype) for mask in given]
            for mask in masks:
                if mask.shape != shape:
                    raise ValueError(f"dropout_masks: expected shape {shape}, got {mask.shape}")
            return masks or None
        if not self.training or self.dropout == 0 or self.num_layers == 1:
            return None
        if self.dropout == 1:
            return [np.zeros(shape, self.dtype) for _ in range(self.num_layers - 1)]
        keep = 1.0 - self.dropout
        return [
            (self.rng.random(shape) < keep).astype(self.dtype) / self.dtype.type(keep)
            for _ in range(self.num_layers - 1)
        ]

    def _to_user_layout(self, time_major: Array, unbatched: bool) -> Array:
        if unbatched:
            return time_major[:, 0]
        return time_major.transpose(1, 0, 2) if self.batch_first else time_major

    # ----------------------------------------------------------------- backward

    def backward(
        self, grad_out: Any, grad_hn: Any = None, *, params: bool = True, input: bool = True
    ) -> Gradients:
        """Backpropagate through time through the last forward.

        ``grad_out`` is dL/d(out), shaped like ``out``; ``grad_hn`` dL/d(h_n) like
        ``h_n`` (LSTM: a tuple, either part may be None); None means zero. Arrays or
        tensors; another dtype is cast to the weights' (as autograd casts gradients).

        ``params=False`` skips the parameter gradients (``Gradients.params`` is empty)
        and ``input=False`` the input's (``Gradients.input`` is None): a caller that
        reads only the states' gradients (``trace``'s dL/dh_t, ``Gradients.hx``) saves
        the weight-gradient products. What is computed is the same either way.
        """
        if self._last is None:
            raise ValueError("backward: no forward pass to backpropagate through; call the model")
        last = self._last
        unbatched, valid, order = last.unbatched, last.valid_sorted, last.order
        masks = last.masks_sorted
        if grad_out is None:
            grad_out = np.zeros(last.out_shape, self.dtype)
        else:
            grad_out = np.asarray(_to_numpy(grad_out), dtype=self.dtype)
        if unbatched:
            grad_out = grad_out[:, None] if grad_out.ndim == 2 else grad_out
        elif self.batch_first and grad_out.ndim == 3:
            grad_out = grad_out.transpose(1, 0, 2)
        if grad_out.shape != last.out_shape:
            expected = self._to_user_layout(np.empty(last.out_shape), unbatched).shape
            raise ValueError(f"grad_out: expected the shape of out {expected}")
        batch = grad_out.shape[1]
        grad_h, grad_c = self._grad_final_state(grad_hn, batch, unbatched)
        if order is not None:
            grad_out, grad_h = grad_out[:, order], grad_h[:, order]
            grad_c = None if grad_c is None else grad_c[:, order]

        size = self.output_size
        grads: dict[str, Array] = {}
        grad_h0 = np.empty_like(grad_h)
        grad_c0 = None if grad_c is None else np.empty_like(grad_c)
        grad_layer_out = grad_out
        for layer in reversed(range(self.num_layers)):
            if valid is not None:
                grad_layer_out = grad_layer_out * valid[..., None]
            layer_input = last.inputs[layer]
            num_steps, batch, features = layer_input.shape
            grad_input = np.zeros((num_steps * batch, features), self.dtype)
            for direction, run in enumerate(last.runs[layer]):
                suffix = param_suffix(layer, direction)
                index = layer * self.num_directions + direction
                grad_xp, run_grads, grad_h0[index], dc0 = run.backward(
                    np.ascontiguousarray(
                        grad_layer_out[..., direction * size : (direction + 1) * size]
                    ),
                    grad_h[index],
                    None if grad_c is None else grad_c[index],
                    params=params,
                )
                if dc0 is not None:
                    grad_c0[index] = dc0
                grad_xp = grad_xp.reshape(num_steps * batch, grad_xp.shape[-1])
                if params:
                    grads["weight_ih" + suffix] = grad_xp.T @ layer_input.reshape(-1, features)
                    if self.bias:
                        grads["bias_ih" + suffix] = grad_xp.sum(axis=0)
                    for kind, grad in run_grads.items():  # weight_hh, bias_hh[, weight_hr]
                        if kind != "bias_hh" or self.bias:
                            grads[kind + suffix] = grad
                if layer > 0 or input:
                    grad_input += grad_xp @ self.params["weight_ih" + suffix]
            grad_layer_out = grad_input.reshape(num_steps, batch, features)
            if layer > 0 and masks is not None:
                grad_layer_out = grad_layer_out * masks[layer - 1]

        if order is not None:
            inverse = last.inverse
            grad_layer_out, grad_h0 = grad_layer_out[:, inverse], grad_h0[:, inverse]
            grad_c0 = None if grad_c0 is None else grad_c0[:, inverse]
        grad_hx = self._as_state(grad_h0, grad_c0)
        return Gradients(
            params={name: grads[name] for name in self.params} if params else {},
            input=self._to_user_layout(grad_layer_out, unbatched) if input else None,
            hx=_squeeze_state(grad_hx, unbatched),
        )

    def backward_from_end(self, layer: int, direction: int, grad_h_end: Any) -> LayerTrace:
        """BPTT through one layer and direction alone, from a gradient on its last state.

        The backward of a loss that reads only ``h_n[layer * D + direction]``, with
        ``grad_h_end`` (B, P) (unbatched: (P,)) its gradient: no output gradient, nothing
        from the layers above, nothing passed on to the layers below. It is how a
        gradient entering at the end fades back through the steps, at the cost of one
        direction's backward (``backward`` with that ``grad_hn`` computes the same
        ``grad_states`` through every layer). Returns that direction's trace, with
        ``grad_states`` (and ``grad_cells``) of this pass; no parameter gradients.
        """
        self._check_position("backward_from_end", layer, direction)
        last = self._last
        run = last.runs[layer][direction]
        steps, batch = run.states.shape[:2]
        shape = (1, batch, self.output_size)
        end = np.asarray(_to_numpy(grad_h_end))[None]
        end = self._check_state("grad_h_end", end, shape, last.unbatched, cast=True)
        grad_h = end[0] if last.order is None else end[0][last.order]
        grad_c = None if run.cells is None else np.zeros(run.cells.shape[1:], self.dtype)
        run.backward(np.zeros((steps, batch, self.output_size), self.dtype), grad_h, grad_c,
                     params=False)  # fmt: skip
        return self.trace(layer, direction)

    def widened(self) -> RNNBase:
        """A float64 copy of this model holding its last forward widened to float64.

        Widening is exact (every float32 value is a float64 value), so ``backward`` and
        ``backward_from_end`` of the copy run in float64 arithmetic on the trajectory this
        model computed, without running the forward again (a float64 model's own forward
        computes a trajectory that differs from it by float32's round-off). A float64
        model's copy shares its arrays.
        """
        self._check_position("widened", 0, 0)
        wide = copy.copy(self)
        wide.dtype = np.dtype(np.float64)
        wide.params = {name: _wide(value) for name, value in self.params.items()}
        last = self._last
        wide._last = replace(
            last,
            inputs=[_wide(layer_input) for layer_input in last.inputs],
            runs=[[_widened_run(run) for run in directions] for directions in last.runs],
            masks_sorted=None if last.masks_sorted is None else list(map(_wide, last.masks_sorted)),
        )
        return wide

    def _grad_final_state(
        self, grad_hn: Any, batch: int, unbatched: bool
    ) -> tuple[Array, Array | None]:
        """dL/dh_n (L*D, B, P) with None read as zeros, and None (an LSTM also has dL/dc_n)."""
        h_shape, _ = self._state_shapes(batch)
        return self._grad_part("grad_hn", grad_hn, h_shape, unbatched), None

    def _grad_part(self, name: str, grad: Any, shape: tuple[int, ...], unbatched: bool) -> Array:
        if grad is None:
            return np.zeros(shape, self.dtype)
        return self._check_state(name, grad, shape, unbatched, cast=True)

    # ----------------------------------------------------------------- internals

    def _check_position(self, name: str, layer: int, direction: int) -> None:
        """A ValueError naming ``name`` unless a forward ran and (layer, direction) is one
        of this model's."""
        if self._last is None:
            raise ValueError(f"{name}: no forward pass yet; call the model first")
        if not 0 <= layer < self.num_layers or not 0 <= direction < self.num_directions:
            raise ValueError(
                f"{name}: layer must be in [0, {self.num_layers}) and direction in "
                f"[0, {self.num_directions}), got layer={layer}, direction={direction}"
            )

    def trace(self, layer: int = 0, direction: int = 0) -> LayerTrace:
        """What one layer and direction computed in the last forward (and backward)."""
        self._check_position("trace", layer, direction)
        run = self._last.runs[layer][direction]
        inverse = self._last.inverse

        def unsorted(array: Array | None, batch_axis: int = 1) -> Array | None:
            """The array in the caller's batch order (copies only when the batch was sorted)."""
            if array is None or inverse is None:
                return array
            return np.take(array, inverse, axis=batch_axis)

        return LayerTrace(
            inputs=unsorted(self._last.inputs[layer]),
            h0=unsorted(run.h0, batch_axis=0),
            c0=unsorted(run.c0, batch_axis=0),
            states=unsorted(run.states),
            cells=unsorted(run.cells),
            gates={name: unsorted(gate) for name, gate in run.gates.items()},
            mask=self._last.valid,
            grad_states=unsorted(run.grad_states),
            grad_cells=unsorted(run.grad_cells),
        )


def _wide(array: Array) -> Array:
    """``array`` in float64 (itself when it is float64 already)."""
    return array.astype(np.float64, copy=False)


def _widened_run(run: Recurrence) -> Recurrence:
    """A copy of one direction's recurrence with every float32 array it holds in float64."""
    wide = copy.copy(run)
    for name, value in vars(run).items():
        if isinstance(value, np.ndarray) and value.dtype == np.float32:
            setattr(wide, name, _wide(value))
    return wide


def _to_numpy(value: Any) -> Any:
    """A torch tensor as a NumPy array (detached, on the CPU; bfloat16 widened to float64,
    which NumPy lacks); anything else unchanged. rnnref does not import torch."""
    if not (hasattr(value, "detach") and hasattr(value, "numpy")):
        return value
    value = value.detach().cpu()
    try:
        return value.numpy()
    except TypeError:  # a dtype NumPy has no equivalent of
        return value.double().numpy()


def _last_step(per_step: Array, reverse: bool) -> Array:
    """The state after a direction's last step, (B, ...) from (T, B, ...)."""
    return per_step[0] if reverse else per_step[-1]


def _read_only(array: Array) -> Array:
    """A view of ``array`` that raises on any write (so a forward cannot change a parameter)."""
    view = array.view()
    view.flags.writeable = False
    return view


def _squeeze_state(state: State, unbatched: bool) -> State:
    if not unbatched:
        return state
    if isinstance(state, tuple):
        return tuple(part[:, 0] for part in state)
    return state[:, 0]


class RNN(RNNBase):
    """Elman RNN, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu.

    Takes torch's arguments in torch's order: nonlinearity comes fourth.
    """

    cell = "rnn"
    gate_blocks = CELL_TYPES["rnn_tanh"].gate_blocks
    cell_arguments = ("nonlinearity",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            dtype=dtype,
            seed=seed,
        )

    @property
    def cell_type(self) -> CellType:
        """``rnn_tanh`` or ``rnn_relu`` (:mod:`rnnref.cells`), as ``nonlinearity`` says."""
        return CELL_TYPES[f"rnn_{self.nonlinearity}"]

    def _recurrence(self, p, xp, reverse, h0, c0, active) -> Recurrence:
        if self.bias:
            xp += p["bias_ih"] + p["bias_hh"]
        run = RNNRecurrence(p["weight_hh"], reverse, self.nonlinearity)
        run.forward(xp, h0, active)
        return run


class LSTM(RNNBase):
    """LSTM with torch's gate order (i, f, g, o) and optional projection (proj_size).

    The state is a pair: ``hx = (h0 (L*D, B, P), c0 (L*D, B, H))``, ``h_n = (h_n, c_n)``.
    """

    cell = "lstm"
    cell_type = CELL_TYPES["lstm"]
    gate_blocks = cell_type.gate_blocks
    supports_projection = True
    cell_arguments = ("proj_size",)

    def _recurrence(self, p, xp, reverse, h0, c0, active) -> Recurrence:
        if self.bias:
            xp += p["bias_ih"] + p["bias_hh"]
        run = LSTMRecurrence(p["weight_hh"], reverse, p.get("weight_hr"))
        run.forward(xp, h0, c0, active)
        return run

    def _initial_state(self, hx: Any, batch: int, unbatched: bool) -> tuple[Array, Array]:
        """Return h0 (L*D, B, P) and c0 (L*D, B, H), zeros by default."""
        h_shape, c_shape = self._state_shapes(batch)
        if hx is None:
            return np.zeros(h_shape, self.dtype), np.zeros(c_shape, self.dtype)
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise ValueError("hx: an LSTM takes a tuple (h0, c0)")
        return (
            self._check_state("hx[0] (h0)", hx[0], h_shape, unbatched),
            self._check_state("hx[1] (c0)", hx[1], c_shape, unbatched),
        )

    def _as_state(self, h: Array, c: Array | None) -> State:
        return (h, c)

    def _grad_final_state(self, grad_hn: Any, batch: int, unbatched: bool) -> tuple[Array, Array]:
        """dL/dh_n (L*D, B, P) and dL/dc_n (L*D, B, H); None (or either part None): zeros."""
        h_shape, c_shape = self._state_shapes(batch)
        grad_h = grad_c = None
        if grad_hn is not None:
            if not isinstance(grad_hn, tuple | list) or len(grad_hn) != 2:
                raise ValueError("grad_hn: an LSTM takes a tuple (grad_h_n, grad_c_n)")
            grad_h, grad_c = grad_hn
        return (
            self._grad_part("grad_hn", grad_h, h_shape, unbatched),
            self._grad_part("grad_hn[1] (grad_c_n)", grad_c, c_shape, unbatched),
        )


class GRU(RNNBase):
    """GRU with torch's gate order (r, z, n); the reset gate multiplies W_hn h + b_hn."""

    cell = "gru"
    cell_type = CELL_TYPES["gru"]
    gate_blocks = cell_type.gate_blocks

    def _recurrence(self, p, xp, reverse, h0, c0, active) -> Recurrence:
        b_hn = None
        if self.bias:  # b_hr, b_hz fold into xp; b_hn stays inside r * (W_hn h + b_hn)
            hidden = self.hidden_size
            xp += p["bias_ih"]
            xp[..., : 2 * hidden] += p["bias_hh"][: 2 * hidden]
            b_hn = p["bias_hh"][2 * hidden :]
        run = GRURecurrence(p["weight_hh"], reverse, b_hn)
        run.forward(xp, h0, active)
        return run
