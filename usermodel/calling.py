"""Calling the user's model: the arguments it takes, the state it needs, the outputs it gives.

Models are written many ways: ``forward(x)``; ``forward(x, state=None)``;
``forward(x, hidden)`` with ``init_hidden(batch)`` to make the state (pytorch/examples'
word language model) or ``begin_state(batch_size=...)`` (d2l); ``forward(x, state)``
meaning ``None`` as zeros; required keyword-only arguments. They return a tensor, a
tuple ``(output, state)``, a list, a dict or a PackedSequence.

:func:`plan_call` decides once how to call a model on an input (a :class:`Call`), and
:func:`run_model` calls it that way; :func:`floating_outputs` lists the floating tensors
of what it returned, depth first, with where each was (``output[0]``), and
:func:`select_output` picks the first. :func:`model_dtype` and :func:`match_input` put
the input (and :meth:`Call.to` the state) in the model's dtype and on its device.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from usermodel.errors import UsageError, describe_exception

STATE_MAKERS = ("init_hidden", "begin_state")
"""The methods a model may offer to make its initial state, tried in this order."""

_BATCH_NAMES = ("batch_size", "bsz", "batch")
_HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_backward_hooks",
    "_backward_pre_hooks",
)


@dataclass(frozen=True)
class Call:
    """How one model is called on its input ``x``: ``model(x, *args, **kwargs)``.

    ``args`` and ``kwargs`` fill the further required arguments of ``forward``: the first
    positional one gets the state the model makes (``init_hidden``/``begin_state``) where
    it offers a maker, else ``None``, as do the others. ``description`` says how, e.g.
    ``model(x, model.init_hidden(20))``.
    """

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = "model(x)"

    def __call__(self, model: Callable[..., Any], x: torch.Tensor) -> Any:
        return model(x, *self.args, **self.kwargs)

    def inputs(self, x: torch.Tensor) -> tuple[Any, ...]:
        """The positional arguments ``(x, *args)``, e.g. for torch.jit.trace or an export."""
        return (x, *self.args)

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Call:
        """The same call with every floating tensor of its arguments in ``dtype`` (None: as
        it is) and every tensor on ``device`` (None: where it is)."""

        def move(t: torch.Tensor) -> torch.Tensor:
            cast = dtype if dtype is not None and t.is_floating_point() else t.dtype
            return t.to(device or t.device, cast)

        return replace(
            self,
            args=_map_tensors(move, self.args),
            kwargs={k: _map_tensors(move, v) for k, v in self.kwargs.items()},
        )


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], value: Any) -> Any:
    """``value`` with ``fn`` applied to every tensor in it (tuples, named tuples, lists)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_map_tensors(fn, v) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(_map_tensors(fn, v) for v in value)
    return value


def _required_after_input(model: nn.Module) -> tuple[int, list[str]]:
    """How many required positional arguments ``forward`` takes after the input, and the
    names of its required keyword-only arguments."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return 0, []
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    keyword = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    return max(len(positional) - 1, 0), keyword


def extra_arguments(model: nn.Module) -> int:
    """How many required positional arguments ``forward`` takes after the input."""
    return _required_after_input(model)[0]


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The floating dtype of the model's parameters and buffers, when it has exactly one."""
    tensors = [*model.parameters(), *model.buffers()]
    dtypes = {t.dtype for t in tensors if t.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer (None: it has none)."""
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    return None if first is None else first.device


def match_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` on the model's device and, when floating, in the model's floating dtype
    (a float32 SPEC for a ``.double()`` model gives float64 input)."""
    dtype = model_dtype(model) if x.is_floating_point() else None
    return x.to(model_device(model) or x.device, dtype or x.dtype)


def _state_maker(model: nn.Module) -> tuple[str, Callable[..., Any]] | None:
    for name in STATE_MAKERS:
        maker = getattr(model, name, None)
        if callable(maker):
            return name, maker
    return None


def _make_state(maker: Callable[..., Any], batch: int, device: torch.device) -> tuple[Any, str]:
    """``maker``'s state for ``batch`` and how it was called: ``(20)`` or
    ``(batch_size=20, device=cpu)`` (a ``device`` parameter is given the input's)."""
    try:
        params = inspect.signature(maker).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs: dict[str, Any] = {"device": device} if "device" in params else {}
    name = next((n for n in _BATCH_NAMES if n in params), None)
    if name is not None:
        kwargs[name] = batch
        shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return maker(**kwargs), f"({shown})"
    shown = ", ".join([str(batch), *(f"{k}={v}" for k, v in kwargs.items())])
    return maker(batch, **kwargs), f"({shown})"


def _batch_candidates(model: nn.Module, x: torch.Tensor) -> list[int]:
    """The sizes of ``x``'s dimensions that may be the batch, most likely first: the
    second for a sequence-first model (its recurrent layers are not batch_first), else
    the first."""
    if x.dim() == 0:
        return [1]
    layers = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    first = 1 if x.dim() >= 2 and layers and not layers[0].batch_first else 0
    order = [first, *(d for d in range(x.dim()) if d != first)]
    return list(dict.fromkeys(int(x.shape[d]) for d in order))


@contextlib.contextmanager
def _hooks_off(model: nn.Module) -> Iterator[None]:
    """The model's module hooks removed meanwhile (a trial call is nobody's probe), the
    random number generators restored after (dropout in a trial draws nothing for later)."""
    saved = [(m, name, getattr(m, name)) for m in model.modules() for name in _HOOKS]
    for module, name, hooks in saved:
        setattr(module, name, type(hooks)())
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            yield
    finally:
        for module, name, hooks in saved:
            setattr(module, name, hooks)


_PLANS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[Any, ...], Call]] = (
    weakref.WeakKeyDictionary()
)


def plan_call(model: nn.Module, x: torch.Tensor) -> Call:
    """How to call ``model`` on ``x`` (remembered per model and input shape).

    A model whose forward needs a state and that offers ``init_hidden``/``begin_state``
    gets the state it makes for the batch; which dimension of ``x`` is the batch is tried
    (one no-grad call each, hooks off) when ``x`` has dimensions of different sizes.

    Raises:
        UsageError: the state maker, or the model given its state, raised for every
            candidate batch size; the message names the user's line.
    """
    key = (tuple(x.shape), x.dtype, x.device)
    known = _PLANS.get(model)
    if known is not None and known[0] == key:
        return known[1]
    positional, keyword = _required_after_input(model)
    kwargs = {name: None for name in keyword}
    shown_kwargs = "".join(f", {name}=None" for name in keyword)
    maker = _state_maker(model) if positional else None
    if maker is None:
        call = Call((None,) * positional, kwargs, f"model(x{', None' * positional}{shown_kwargs})")
    else:
        call = _stateful_call(model, x, maker, positional, kwargs, shown_kwargs)
    _PLANS[model] = (key, call)
    return call


def _stateful_call(
    model: nn.Module,
    x: torch.Tensor,
    maker: tuple[str, Callable[..., Any]],
    positional: int,
    kwargs: dict[str, Any],
    shown_kwargs: str,
) -> Call:
    name, make = maker
    candidates = _batch_candidates(model, x)
    first_error: Exception | None = None
    for batch in candidates:
        try:
            with _hooks_off(model):
                state, how = _make_state(make, batch, x.device)
                call = Call(
                    (_map_tensors(torch.Tensor.detach, state), *(None,) * (positional - 1)),
                    kwargs,
                    f"model(x, model.{name}{how}{', None' * (positional - 1)}{shown_kwargs})",
                )
                if len(candidates) > 1:
                    call(model, x)
            return call
        except Exception as exc:  # the wrong batch size: the next candidate may fit
            first_error = first_error or exc
    raise UsageError(
        f"calling model(x, model.{name}(batch)) failed for batch in "
        f"{', '.join(map(str, candidates))}: {describe_exception(first_error)}"
    ) from first_error


def call_description(model: nn.Module) -> str:
    """How the model was last planned to be called, e.g. ``model(x)`` or ``model(x, None)``."""
    known = _PLANS.get(model)
    if known is not None:
        return known[1].description
    positional, keyword = _required_after_input(model)
    return "model(x" + ", None" * positional + "".join(f", {k}=None" for k in keyword) + ")"


def run_model(model: nn.Module, x: torch.Tensor) -> Any:
    """``model`` called on ``x`` as :func:`plan_call` says.

    Raises:
        UsageError: the model raised; the message names the user's line.
    """
    call = plan_call(model, x)
    try:
        return call(model, x)
    except Exception as exc:
        raise UsageError(f"running {call.description} failed: {describe_exception(exc)}") from exc


def floating_outputs(output: Any, path: str = "output") -> list[tuple[str, torch.Tensor]]:
    """Every floating tensor in ``output`` (depth first; a PackedSequence's ``.data``) and
    where it is, e.g. ``[("output[0]", (T, B, V) tensor), ("output[1][0]", h_n)]``."""
    if isinstance(output, PackedSequence):
        return floating_outputs(output.data, f"{path}.data")
    if isinstance(output, torch.Tensor):
        return [(path, output)] if output.is_floating_point() else []
    if isinstance(output, Mapping):
        items = [(f"{path}[{key!r}]", value) for key, value in output.items()]
    elif isinstance(output, tuple | list):
        items = [(f"{path}[{i}]", value) for i, value in enumerate(output)]
    else:
        return []
    return [found for sub_path, value in items for found in floating_outputs(value, sub_path)]


def first_float_tensor(output: Any, path: str = "output") -> tuple[torch.Tensor, str] | None:
    """The first floating tensor in ``output`` (depth first) and its path, e.g. ``output[0]``."""
    found = floating_outputs(output, path)
    return (found[0][1], found[0][0]) if found else None


def select_output(output: Any) -> tuple[torch.Tensor, str]:
    """The tensor the objective is computed on and a description like ``output[0] (32, 10)``.

    Raises:
        UsageError: the output holds no floating-point tensor.
    """
    found = first_float_tensor(output)
    if found is None:
        raise UsageError(
            f"the model returned {type(output).__name__} with no floating-point tensor in it"
        )
    tensor, path = found
    return tensor, f"{path} {tuple(tensor.shape)}"
