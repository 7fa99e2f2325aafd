"""``python -m bench model TARGET``: the user's whole model under each deployment path.

The paths (``eager``, ``flush-denormal``, ``torchscript``, ``compile``, ``int8``,
``fp16``, ``bf16``, ``onnxruntime``, ``cuda``) are declared once, in :mod:`bench.paths`,
and the matrix runs the same declarations on one layer (:mod:`bench.backends`). Here each
prepares a private copy of the user's model (:func:`build_runner`); a path that cannot
take the model (the exporter or the quantizer refuses it, or its first call raises on an
op it does not support) is a skipped row whose reason is the tool's own one-line error.

The model runs in eval mode (dropout off, so every path computes the same function) on
the user's input ``x``, called as :mod:`usermodel.calling` plans it (as ``python -m
diagnostics`` calls it: the state ``init_hidden``/``begin_state`` makes, ``None`` for
other required arguments), in the model's own dtype (a ``.double()`` model runs in
float64; its state and a floating input are cast to it, and to each path's dtype and
device). Inference: the forward under no_grad. Training: forward, then
backward of ``sum_i (out_i * w_i).sum()`` over the floating outputs ``out_i``, with fixed
seeded weights ``w_i`` shaped like them. Every path is checked before it is timed against
the eager model in float64 (its floating outputs and, in training, the gradients of the
parameters and of a floating input), with the error bound of its numerics
(:data:`bench.check.BOUNDS`); out of bounds fails the row.

Rows go into the run file beside the layer matrix's; their ``extra_info`` has
``kind: "model"``, ``case: model-MODE-PATH``, ``backend`` (the path), ``cell: "model"``,
``batch`` (the input's first dimension), ``layout: "model"``, the other shape fields
null, ``target``, ``input``, ``input_shape``, ``input_dtype``, ``dtype``, ``device``,
``threads``, ``module``, ``rel_err``, ``max_abs_err``, ``worst_output``, ``numerics``,
``bound``, ``load_average`` and the path's own facts (``torchscript``: script or trace,
``script_error``; ``exporter``, ``opset``, ``onnx_ops``; ``kernel``; ``compile_s``;
``quantized``: the module types swapped in) and ``build_s``: the seconds from the start
of the path's build (script, trace, export, quantization, copy) to the end of its first,
checked call, which includes torch.compile's compilation. A build still running after
``--build-limit`` seconds is abandoned (see :func:`bounded`) and its row skipped, as is a
path whose model raises when called again (a state kept with its graph: the second
backward fails). The rows are warmed up and timed in the preset's passes by the suite's
one timer (:mod:`usermodel.timing`) and recorded as pytest-benchmark entries by the code
that records the matrix's (:meth:`bench.record.RunRecorder.add_timings`).
"""

from __future__ import annotations

import atexit
import copy
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TextIO, TypeVar

import numpy as np
import torch
from torch import nn

from bench import native_output
from bench.check import Agreement, CorrectnessError, compare, gate
from bench.metrics import what_ran
from bench.paths import PATHS, Deployed, Path, Subject, TrapError, Unsupported, deploy, refusal
from bench.presets import Preset
from bench.record import RunRecorder, entry_head
from bench.workload import Outputs, Runner
from usermodel import UsageError, describe_exception
from usermodel.calling import Call, floating_outputs, match_input, model_dtype, plan_call
from usermodel.timing import Settle, Timed, time_passes, warm_up

MODES = ("inference", "training")


def _floats(value: Any) -> list[torch.Tensor]:
    """The floating tensors of a model's output (tensor, tuple, list, dict, nested)."""
    return [t for _, t in floating_outputs(value)]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


@dataclass
class UserModel:
    """The user's model (its own dtype, CPU, eval mode), its input, how it is called
    (:func:`usermodel.calling.plan_call`) and where both came from."""

    model: nn.Module
    x: torch.Tensor
    target: str
    input: str  # the SPEC or the data file
    seed: int = 0
    call: Call = field(default_factory=Call)
    outputs: list[str] = field(default_factory=list)  # e.g. ["output[0] (35, 20, 50)"]
    _weights: list[torch.Tensor] | None = field(default=None, repr=False)
    reference_dtype: str = field(default="float64", init=False)
    reference_fallback: str | None = field(default=None, init=False)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in: a floating input's (cast to the model's), else
        the model's parameters', else float32."""
        if self.x.is_floating_point():
            return self.x.dtype
        return model_dtype(self.model) or torch.float32

    @property
    def batch(self) -> int:
        return int(self.x.shape[0]) if self.x.dim() else 1

    def copy(self) -> nn.Module:
        return copy.deepcopy(self.model)

    def loss_weights(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Seeded float64 weights ``w_i`` shaped like each floating output."""
        if self._weights is None:
            generator = torch.Generator().manual_seed(self.seed)
            self._weights = [
                torch.randn(o.shape, generator=generator, dtype=torch.float64) for o in outputs
            ]
        return self._weights

    @cached_property
    def reference(self) -> dict[str, Outputs]:
        """The eager answer per mode every path is checked against, in float64: the model
        and a floating input in float64, and float64 the default dtype meanwhile, so that
        tensors the forward makes without a dtype (``h0 = torch.zeros(layers, batch,
        hidden)``, as tutorials write it) match.

        A model that does not run in float64 (it makes a tensor in float32 explicitly, or
        keeps its state in a plain tensor attribute that ``.double()`` leaves alone) is
        answered in its own dtype instead: :attr:`reference_dtype` says which,
        :attr:`reference_fallback` why. The paths are then checked against the eager
        model's own round-off, which their bounds are far above.

        Raises:
            Unsupported: the model does not run even in its own dtype (every row is
                skipped with it).
        """
        try:
            return self._answers(torch.float64)
        except Exception as exc:
            self.reference_fallback = f"the model does not run in float64: {refusal(exc)}"
        self.reference_dtype = str(self.dtype).removeprefix("torch.")
        try:
            return self._answers(None)
        except Exception as exc:
            raise Unsupported(
                f"the reference every path is checked against: the eager model fails: "
                f"{refusal(exc)}"
            ) from None

    def _answers(self, dtype: torch.dtype | None) -> dict[str, Outputs]:
        """The eager model's outputs per mode in ``dtype`` (None: its own), ``dtype`` the
        default dtype meanwhile."""
        answers = {}
        default = torch.get_default_dtype()
        torch.set_default_dtype(dtype or default)
        try:
            for mode in MODES:
                model = self.copy() if dtype is None else self.copy().to(dtype)
                runner = model_runner(self, model, mode, "", cast=dtype)
                runner.step()
                answers[mode] = runner.outputs()
        finally:
            torch.set_default_dtype(default)
        return answers


def model_runner(
    user: UserModel,
    module: Callable[..., Any],
    mode: str,
    name: str,
    params: dict[str, nn.Parameter] | None = None,
    device: str = "cpu",
    cast: torch.dtype | None = None,
    dtype: str | None = None,
    numerics: str = "fp32",
) -> Runner:
    """A Runner calling ``module`` on ``x`` as the user's model is called (inference under
    no_grad; training with the backward of the weighted sum of its floating outputs).
    ``params``: the parameters whose gradients are checked (default:
    ``module.named_parameters()``); ``cast``: the dtype of a floating input and of the
    state (default: the user's); ``dtype``: the row's label (default: ``cast``'s name)."""
    training = mode == "training"
    cast = cast or user.dtype
    dtype = dtype or str(cast).removeprefix("torch.")
    call = user.call.to(cast, device)
    x = user.x.to(device, copy=True)  # its own leaf: requires_grad_ below leaves user.x alone
    if x.is_floating_point():
        x = x.to(cast).requires_grad_(training)
    if params is None:
        params = dict(module.named_parameters()) if isinstance(module, nn.Module) else {}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    last: list[list[torch.Tensor]] = []

    def step() -> None:
        if training:
            for p in params.values():
                p.grad = None
            x.grad = None
            outs = _floats(call(module, x))
            weights = user.loss_weights(outs)
            loss = sum(
                (o * w.to(o.device, o.dtype)).sum() for o, w in zip(outs, weights, strict=True)
            )
            loss.backward()
        else:
            with torch.no_grad():
                outs = _floats(call(module, x))
        sync()
        last[:] = [outs]

    def outputs() -> Outputs:
        (outs,) = last
        named = {f"out.{i}": _numpy(o) for i, o in enumerate(outs)}
        if training:
            named.update(
                {f"grad.{k}": _numpy(p.grad) for k, p in params.items() if p.grad is not None}
            )
            if x.grad is not None:
                named["grad.input"] = _numpy(x.grad)
        return named

    return Runner(step, outputs, name, dtype=dtype, device=device, numerics=numerics)


def build_runner(path: Path, user: UserModel, mode: str) -> Runner:
    """The Runner of ``path`` on a private copy of the user's model in ``mode``, called as
    the model is called (:func:`model_runner`), not yet called."""
    model = user.copy()
    subject = Subject(
        model,
        user.call.inputs(user.x),
        dict(user.call.kwargs),
        call=user.call.description,
    )

    def runner(deployed: Deployed) -> Runner:
        return model_runner(
            user,
            deployed.call,
            mode,
            deployed.module,
            deployed.params,
            device=deployed.device,
            cast=deployed.cast,
            dtype=deployed.dtype,
            numerics=deployed.numerics,
        )

    return deploy(path, subject, runner)


def case_id(mode: str, path: str) -> str:
    return f"model-{mode}-{path}"


class BuildTimeout(Exception):
    """A path's build was still running at the build limit: the row is skipped with this."""


T = TypeVar("T")

_ABANDONED: list[threading.Thread] = []


def exit_past_abandoned_builds(code: int) -> None:
    """At interpreter exit, leave with ``code`` at once (``os._exit``, streams flushed)
    where an abandoned build is still running then: the interpreter's teardown under a
    thread inside torch aborts the process (SIGABRT, exit 134) after everything was
    written. Nothing happens at exit when every build has ended by then."""

    def leave() -> None:
        if any(thread.is_alive() for thread in _ABANDONED):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    if _ABANDONED:
        atexit.register(leave)


def bounded(work: Callable[[], T], limit_s: float | None, name: str) -> T:
    """``work()`` in a daemon thread, waited for at most ``limit_s`` seconds (None: no limit).

    A thread, not a subprocess: what a path builds (a scripted or compiled module, an
    ONNX Runtime session) lives in this process to be checked and timed here, and most of
    it cannot be pickled back from another; a subprocess could only say how long a build
    took, at the cost of building twice. A thread cannot be stopped: a build past the
    limit is abandoned (its result ignored), goes on using a core until it ends, and dies
    with the process.

    Raises:
        BuildTimeout: ``work`` was still running after ``limit_s`` seconds.
        Exception: what ``work`` raised.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"bench model: {name}", daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        _ABANDONED.append(thread)
        native_output.abandon(thread)  # it may hold the console's descriptor 1
        raise BuildTimeout(
            f"still building after {limit_s:g} s (--build-limit); abandoned, "
            "its thread keeps a core busy until it ends"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class ModelBench:
    """The model part of a ``bench model`` run: which rows, their timing, the header facts."""

    user: UserModel
    preset: Preset
    chosen: Callable[[str], bool]  # does the --filter keep this case id?
    layers: list[dict[str, Any]]
    checkpoint: str | None = None
    build_limit: float | None = None  # seconds; None: wait for every build
    _no_reference: str | None = field(default=None, repr=False)

    @property
    def header(self) -> dict[str, Any]:
        return {
            "target": self.user.target,
            "input": self.user.input,
            "input_shape": list(self.user.x.shape),
            "input_dtype": str(self.user.x.dtype).removeprefix("torch."),
            "call": self.user.call.description,
            "outputs": self.user.outputs,
            "checkpoint": self.checkpoint,
            "parameters": sum(p.numel() for p in self.user.model.parameters()),
            "layers": self.layers,
        }

    def run(self, recorder: RunRecorder, threads: int, stream: TextIO) -> None:
        """Check, build and time every path and mode the filter keeps; record each row."""
        if any(self.chosen(case_id(m, p)) for m in MODES for p in PATHS):
            self._reference(stream)
        built: dict[str, tuple[Runner, Timed]] = {}
        for mode in MODES:
            for path in PATHS.values():
                cid = case_id(mode, path.name)
                if self.chosen(cid):
                    row = self._build(cid, path, mode, recorder, threads, stream)
                    if row is not None:
                        built[cid] = row

        def timed(cid: str, number: int, timings: list[float]) -> None:
            runner = built[cid][0]
            head = entry_head(
                f"model[{cid}]",
                f"bench model::{cid}",
                "model",
                {"case": cid},
                cid,
                dict(runner.extra),
                self.preset.min_rounds,
                self.preset.max_time,
            )
            median = recorder.add_timings(head, timings)["stats"]["median"]
            print(
                f"bench model: {cid} pass {number}/{self.preset.passes}: {median * 1e3:.3f} ms",
                file=stream,
                flush=True,
            )

        rows = {cid: row for cid, (_, row) in built.items()}
        time_passes(rows, self.preset.passes, Settle(), timed)

    def _reference(self, stream: TextIO) -> None:
        """The float64 answer every path is checked against, computed once, its time shown."""
        print("bench model: float64 reference (eager, both modes) ...", file=stream, flush=True)
        start = time.perf_counter()
        try:
            _ = self.user.reference
        except Unsupported as exc:
            self._no_reference = str(exc)
        if self.user.reference_fallback:
            print(
                f"bench model: {self.user.reference_fallback}; the paths are checked against "
                f"the eager model in {self.user.reference_dtype}",
                file=stream,
                flush=True,
            )
        print(
            f"bench model: {self.user.reference_dtype} reference took "
            f"{time.perf_counter() - start:.1f} s",
            file=stream,
            flush=True,
        )

    def _first_call(self, path: Path, mode: str) -> Runner:
        runner = build_runner(path, self.user, mode)
        runner.step()
        return runner

    def _build(
        self, cid: str, path: Path, mode: str, recorder: RunRecorder, threads: int, stream: TextIO
    ) -> tuple[Runner, Timed] | None:
        """The path built, called once, checked and warmed up, with its row for the timer;
        None when it is skipped or fails (recorded, with its reason)."""
        reason = path.skip_reason(mode) or self._no_reference
        if reason:
            recorder.skipped(cid, reason)
            print(f"bench model: {cid} skipped: {reason}", file=stream, flush=True)
            return None
        print(f"bench model: {cid} building ...", file=stream, flush=True)
        start = time.perf_counter()
        try:
            runner = bounded(lambda: self._first_call(path, mode), self.build_limit, cid)
            build_s = time.perf_counter() - start
            print(f"bench model: {cid} built in {build_s:.1f} s", file=stream, flush=True)
            agreement = compare(runner.outputs(), self.user.reference[mode])
            gate(agreement, runner.numerics, f"{cid} ({runner.module})")
        except BuildTimeout as exc:
            recorder.skipped(cid, f"{path.name}: {exc}")
            print(f"bench model: {cid} skipped: {path.name}: {exc}", file=stream, flush=True)
            return None
        except Unsupported as exc:
            recorder.skipped(cid, str(exc))
            print(f"bench model: {cid} skipped: {exc}", file=stream, flush=True)
            return None
        except (CorrectnessError, TrapError) as exc:
            recorder.failed(cid, str(exc))
            print(f"bench model: {cid} FAILED: {exc}", file=stream, flush=True)
            return None
        except Exception as exc:  # an op the path does not support: its own error says which
            reason = f"{path.name}: {refusal(exc)}"
            recorder.skipped(cid, reason)
            print(f"bench model: {cid} skipped: {reason}", file=stream, flush=True)
            return None
        try:
            seconds = statistics.median(warm_up(runner.step))
        except Exception as exc:  # e.g. a state kept with its graph: a second backward fails
            reason = f"{path.name}: called again: {refusal(exc)}"
            recorder.skipped(cid, reason)
            print(f"bench model: {cid} skipped: {reason}", file=stream, flush=True)
            return None
        rounds = self.preset.rounds_per_pass(seconds)
        print(
            f"bench model: {cid} warmed up: {seconds * 1e3:.3f} ms per call, {rounds} per pass",
            file=stream,
            flush=True,
        )
        runner.extra.update(self._describe(cid, path, mode, runner, agreement, threads))
        runner.extra["build_s"] = build_s
        return runner, Timed(runner.step, path.thread_pool, rounds)

    def _describe(
        self, cid: str, path: Path, mode: str, runner: Runner, agreement: Agreement, threads: int
    ) -> dict[str, Any]:
        header = self.header
        return {
            "case": cid,
            "kind": "model",
            "backend": path.name,
            "cell": "model",
            "mode": mode,
            "batch": self.user.batch,
            "seq_len": None,
            "input_size": None,
            "hidden_size": None,
            "num_layers": None,
            "bidirectional": False,
            "layout": "model",
            "fill": 1.0,
            "target": header["target"],
            "input": header["input"],
            "input_shape": header["input_shape"],
            "input_dtype": header["input_dtype"],
            "reference_dtype": self.user.reference_dtype,
            **what_ran(runner, agreement, threads),
        }


def load_user_model(
    target: str, spec: str | None, data: str | None, checkpoint: str | None
) -> UserModel:
    """The model (eval mode, its own dtype), its input (a floating one cast to the model's
    dtype) and how to call it; UsageError when either cannot be used, including a model
    that fails on the input."""
    import pathlib

    from usermodel import load_checkpoint, load_target, load_tensor, parse_spec

    model = load_target(target)
    if checkpoint:
        load_checkpoint(model, pathlib.Path(checkpoint))
    if data:
        x, source = load_tensor(pathlib.Path(data))
    else:
        x, source = parse_spec(spec).sample(torch.Generator().manual_seed(0)), spec
    if x.is_floating_point():
        x = x.float()
    return user_model(model, x, target, source)


def user_model(model: nn.Module, x: torch.Tensor, target: str, source: str) -> UserModel:
    """``model`` (put in eval mode) on ``x`` (a floating one cast to the model's dtype), and
    how to call it (:func:`usermodel.calling.plan_call`, as ``python -m diagnostics`` calls
    it); UsageError naming ``target`` and ``source`` when the model fails on the input."""
    model = model.eval()
    x = match_input(model, x)
    call: Call | None = None
    try:
        call = plan_call(model, x)
        with torch.no_grad():
            outputs = floating_outputs(call(model, x))
    except UsageError as exc:
        raise UsageError(f"target {target}: the model fails on the input {source}: {exc}") from exc
    except Exception as exc:
        called = f" called as {call.description}" if call else ""
        raise UsageError(
            f"target {target}: the model fails on the input {source}{called}: "
            f"{describe_exception(exc)}"
        ) from exc
    if not outputs:
        raise UsageError(f"target {target}: the model's output holds no floating tensor to time")
    described = [f"{where} {tuple(t.shape)}" for where, t in outputs]
    return UserModel(model, x, target, source, call=call, outputs=described)
