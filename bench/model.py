"""``python -m bench model TARGET``: the user's whole model under each deployment path.

A *path* is one way people ship a model: ``eager``, ``flush-denormal`` (eager with
subnormal floats flushed to zero), ``torchscript`` (script, else trace),
``compile``, ``int8`` and ``fp16`` (dynamic quantization), ``bf16``, ``onnxruntime``,
``cuda``. Like the layer backends (:mod:`bench.backends`), each is one small class:
``skip_reason(user, mode)`` and ``build(user, mode) -> Runner``; a path that cannot take
the model (the exporter or the quantizer refuses it, or its first call raises on an op
it does not support) is a skipped row whose reason is the tool's own one-line error.

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
``--build-limit`` seconds is abandoned (see :func:`bounded`) and its row skipped.
"""

from __future__ import annotations

import atexit
import copy
import os
import statistics
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, TextIO, TypeVar

import numpy as np
import torch
from pytest_benchmark.stats import Stats
from torch import nn
from torch.utils._pytree import tree_flatten

from bench.backends import TrapError, export_onnx, export_reason, onnx_missing, onnx_session
from bench.check import Agreement, CorrectnessError, compare, gate
from bench.kernels import kernel_description
from bench.metrics import what_ran
from bench.presets import COMPILE_TRAINING, Preset
from bench.record import RunRecorder
from bench.runner import SETTLE_S, Outputs, Runner, warm_up
from bench.torchmods import qualname
from usermodel import UsageError, describe_exception
from usermodel.calling import Call, floating_outputs, match_input, model_dtype, plan_call
from usermodel.errors import user_line

MODES = ("inference", "training")


def _floats(value: Any) -> list[torch.Tensor]:
    """The floating tensors of a model's output (tensor, tuple, list, dict, nested)."""
    return [t for _, t in floating_outputs(value)]


def _reason(exc: BaseException) -> str:
    """Why a tool refused the user's model: its own error as one line, and the user's line
    of code it met, e.g. ``RuntimeError: mat1 and mat2 must have the same dtype ... (at
    model.py:19 in forward)``."""
    return f"{export_reason(exc)}{user_line(exc)}"


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
        """The float64 eager answer per mode: the model and a floating input in float64, and
        float64 the default dtype meanwhile, so that tensors the forward makes without a
        dtype (``h0 = torch.zeros(layers, batch, hidden)``, as tutorials write it) match.

        Raises:
            Unsupported: the model does not run in float64 (every row is skipped with it).
        """
        answers = {}
        default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            for mode in MODES:
                runner = model_runner(self, self.copy().double(), mode, "", cast=torch.float64)
                runner.step()
                answers[mode] = runner.outputs()
        except Exception as exc:
            raise Unsupported(
                f"the float64 reference every path is checked against: the model does not run "
                f"in float64: {_reason(exc)}"
            ) from None
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


class Path(ABC):
    """One deployment path; runs every mode unless :meth:`skip_reason` says otherwise."""

    name: ClassVar[str]
    thread_pool: ClassVar[str] = "torch"
    inference_only: ClassVar[bool] = False

    def skip_reason(self, user: UserModel, mode: str) -> str | None:
        if self.inference_only and mode == "training":
            return f"{self.name}: inference only (no gradients)"
        return None

    @abstractmethod
    def build(self, user: UserModel, mode: str) -> Runner:
        """A checked-to-be Runner; raises :class:`Unsupported` when the path refuses the model."""


class Unsupported(Exception):
    """The path's tool refuses the model: the row is skipped with this one-line reason."""


PATHS: dict[str, Path] = {}


def register(cls: type[Path]) -> type[Path]:
    PATHS[cls.name] = cls()
    return cls


@register
class Eager(Path):
    """The model as written, float32 on the CPU."""

    name = "eager"

    def build(self, user: UserModel, mode: str) -> Runner:
        model = user.copy()
        return model_runner(user, model, mode, qualname(model))


@register
class FlushDenormal(Path):
    """Eager with ``torch.set_flush_denormal(True)`` around each call, off again after it.

    x86 computes subnormal floats (float32 below 1.2e-38) 10-100 times slower than normal
    ones; a gradient that fades back through a long sequence (a classifier on the last
    step) reaches them, and flushing them to zero is the usual cure. The check against
    float64 keeps the fp32 bound: what is flushed is below any value that shows in it.
    """

    name = "flush-denormal"

    def skip_reason(self, user: UserModel, mode: str) -> str | None:
        supported = torch.set_flush_denormal(True)
        torch.set_flush_denormal(False)
        return None if supported else "this CPU cannot flush subnormal floats (no SSE3)"

    def build(self, user: UserModel, mode: str) -> Runner:
        model = user.copy()
        runner = model_runner(user, model, mode, f"{qualname(model)}(flush_denormal)")
        step = runner.step

        def flushed() -> None:
            torch.set_flush_denormal(True)
            try:
                step()
            finally:
                torch.set_flush_denormal(False)

        runner.step = flushed
        return runner


@register
class TorchScript(Path):
    """torch.jit.script of the model; where scripting fails, torch.jit.trace on the input."""

    name = "torchscript"

    def build(self, user: UserModel, mode: str) -> Runner:
        model = user.copy()
        extra: dict[str, Any] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compiled = torch.jit.script(model)
                extra["torchscript"] = "script"
            except Exception as script_error:
                extra["script_error"] = _reason(script_error)
                try:
                    compiled = torch.jit.trace(
                        model, user.call.inputs(user.x), strict=False, check_trace=False
                    )
                except Exception as trace_error:
                    raise Unsupported(
                        f"torch.jit.script: {extra['script_error']}; "
                        f"torch.jit.trace: {_reason(trace_error)}"
                    ) from None
                extra["torchscript"] = "trace"
        params = dict(compiled.named_parameters())
        runner = model_runner(
            user, compiled, mode, f"{qualname(compiled)}({extra['torchscript']})", params
        )
        runner.extra.update(extra)
        return runner


@register
class Compile(Path):
    """torch.compile of the model with dynamo's allow_rnn; compile time kept apart."""

    name = "compile"

    def skip_reason(self, user: UserModel, mode: str) -> str | None:
        return COMPILE_TRAINING if mode == "training" else None

    def build(self, user: UserModel, mode: str) -> Runner:
        import torch._dynamo
        from torch._dynamo.utils import counters

        torch._dynamo.config.allow_rnn = True
        torch._dynamo.reset()
        model = user.copy()
        compiled = torch.compile(model)
        runner = model_runner(
            user,
            compiled,
            mode,
            f"{qualname(compiled)}({qualname(model)})",
            dict(model.named_parameters()),
        )
        graphs_before = counters["stats"]["unique_graphs"]
        start = time.perf_counter()
        try:
            runner.step()
        except Exception as exc:
            raise Unsupported(f"torch.compile: {_reason(exc)}") from None
        runner.extra["compile_s"] = time.perf_counter() - start
        runner.extra["graphs"] = counters["stats"]["unique_graphs"] - graphs_before
        if runner.extra["graphs"] == 0:
            raise TrapError("torch.compile compiled no graph: the model would run eager")
        return runner


class _Quantized(Path):
    """quantize_dynamic of the model's LSTM, GRU and Linear modules; inference only."""

    inference_only = True
    qdtype: ClassVar[torch.dtype]
    numerics: ClassVar[str]
    label: ClassVar[str]

    def build(self, user: UserModel, mode: str) -> Runner:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                user.copy(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=self.qdtype
            )
        swapped = sorted(
            {
                qualname(m)
                for m in quantized.modules()
                if qualname(m).startswith("torch.ao.nn.quantized")
            }
        )
        if not swapped:
            raise Unsupported(
                f"quantize_dynamic({self.label}): the model has no nn.LSTM, nn.GRU or nn.Linear "
                "to quantize"
            )
        runner = model_runner(
            user,
            quantized,
            mode,
            f"{qualname(quantized)}[{', '.join(swapped)}]",
            {},
            dtype=self.label,
            numerics=self.numerics,
        )
        runner.extra["quantized"] = swapped
        return runner


@register
class Int8(_Quantized):
    name = "int8"
    qdtype = torch.qint8
    numerics = "int8"
    label = "qint8"


@register
class Fp16(_Quantized):
    name = "fp16"
    qdtype = torch.float16
    numerics = "fp16"
    label = "float16"


@register
class Bf16(Path):
    """The model and a floating input in bfloat16 on the CPU; ``kernel`` says what ran."""

    name = "bf16"

    def build(self, user: UserModel, mode: str) -> Runner:
        model = user.copy().to(torch.bfloat16)
        runner = model_runner(
            user,
            model,
            mode,
            qualname(model),
            cast=torch.bfloat16,
            dtype="bfloat16",
            numerics="bf16",
        )
        try:
            runner.extra["kernel"] = kernel_description(runner.step)
        except Exception as exc:
            raise Unsupported(f"bfloat16: {_reason(exc)}") from None
        return runner


@register
class OnnxRuntime(Path):
    """torch.onnx export of the model, run by ONNX Runtime's CPU provider; inference only."""

    name = "onnxruntime"
    thread_pool = "ONNX Runtime"
    inference_only = True

    def skip_reason(self, user: UserModel, mode: str) -> str | None:
        missing = onnx_missing()
        return f"onnxruntime: {missing}" if missing else super().skip_reason(user, mode)

    def build(self, user: UserModel, mode: str) -> Runner:
        from bench.backends import onnx_facts

        if user.call.kwargs:
            raise Unsupported(
                f"torch.onnx.export: the model is called with keyword arguments "
                f"({user.call.description}), which an exported graph does not take"
            )
        args = user.call.inputs(user.x)
        try:
            model_bytes, exporter = export_onnx(user.copy(), args)
            session = onnx_session(model_bytes, torch.get_num_threads())
        except Exception as exc:
            raise Unsupported(f"torch.onnx.export: {_reason(exc)}") from None
        given = [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]
        inputs = session.get_inputs()
        if len(inputs) != len(given):
            raise Unsupported(
                f"the exported graph takes {len(inputs)} inputs, not the {len(given)} tensors "
                f"of {user.call.description}"
            )
        feed = {i.name: t.numpy() for i, t in zip(inputs, given, strict=True)}
        last: list[list[np.ndarray]] = []

        def step() -> None:
            last[:] = [session.run(None, feed)]

        def outputs() -> Outputs:
            floats = [a for a in last[0] if np.issubdtype(np.asarray(a).dtype, np.floating)]
            return {f"out.{i}": np.asarray(a, dtype=np.float64) for i, a in enumerate(floats)}

        facts = onnx_facts(model_bytes)
        runner = Runner(
            step,
            outputs,
            "onnxruntime.InferenceSession[CPUExecutionProvider]",
            dtype=str(user.dtype).removeprefix("torch."),
        )
        runner.extra.update(exporter=exporter, **facts)
        return runner


@register
class Cuda(Path):
    """The model on the first CUDA device, synchronized around every call."""

    name = "cuda"

    def skip_reason(self, user: UserModel, mode: str) -> str | None:
        if not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        return None

    def build(self, user: UserModel, mode: str) -> Runner:
        model = user.copy().to("cuda")
        tf32 = bool(torch.backends.cudnn.allow_tf32) and torch.cuda.get_device_capability()[0] >= 8
        runner = model_runner(
            user, model, mode, qualname(model), device="cuda", numerics="tf32" if tf32 else "fp32"
        )
        runner.extra["tf32"] = tf32
        return runner


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
        built: list[tuple[str, Path, Runner, int]] = []
        for mode in MODES:
            for path in PATHS.values():
                cid = case_id(mode, path.name)
                if not self.chosen(cid):
                    continue
                row = self._build(cid, path, mode, recorder, threads, stream)
                if row is not None:
                    built.append(row)
        last_pool = None
        for index in range(1, self.preset.passes + 1):
            for cid, path, runner, rounds in built:
                if last_pool not in (None, path.thread_pool):
                    time.sleep(SETTLE_S)
                last_pool = path.thread_pool
                timings = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    runner.step()
                    timings.append(time.perf_counter() - start)
                self._record(recorder, cid, runner, timings)
                median = statistics.median(recorder.row(cid)["stats"]["data"])
                print(
                    f"bench model: {cid} pass {index}/{self.preset.passes}: {median * 1e3:.3f} ms",
                    file=stream,
                    flush=True,
                )

    def _reference(self, stream: TextIO) -> None:
        """The float64 answer every path is checked against, computed once, its time shown."""
        print("bench model: float64 reference (eager, both modes) ...", file=stream, flush=True)
        start = time.perf_counter()
        try:
            _ = self.user.reference
        except Unsupported as exc:
            self._no_reference = str(exc)
        print(
            f"bench model: float64 reference took {time.perf_counter() - start:.1f} s",
            file=stream,
            flush=True,
        )

    def _first_call(self, path: Path, mode: str) -> Runner:
        runner = path.build(self.user, mode)
        runner.step()
        return runner

    def _build(
        self, cid: str, path: Path, mode: str, recorder: RunRecorder, threads: int, stream: TextIO
    ) -> tuple[str, Path, Runner, int] | None:
        reason = path.skip_reason(self.user, mode) or self._no_reference
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
            reason = f"{path.name}: {_reason(exc)}"
            recorder.skipped(cid, reason)
            print(f"bench model: {cid} skipped: {reason}", file=stream, flush=True)
            return None
        seconds = statistics.median(warm_up(runner.step))
        rounds = self.preset.rounds_per_pass(seconds)
        print(
            f"bench model: {cid} warmed up: {seconds * 1e3:.3f} ms per call, {rounds} per pass",
            file=stream,
            flush=True,
        )
        runner.extra.update(self._describe(cid, path, mode, runner, agreement, threads))
        runner.extra["build_s"] = build_s
        return cid, path, runner, rounds

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
            **what_ran(runner, agreement, threads),
        }

    @staticmethod
    def _record(recorder: RunRecorder, cid: str, runner: Runner, timings: list[float]) -> None:
        earlier = recorder.row(cid)
        stats = Stats()
        for seconds in [*(earlier["stats"]["data"] if earlier else []), *timings]:
            stats.update(seconds)
        load = max(os.getloadavg()[0], earlier["extra_info"]["load_average"] if earlier else 0.0)
        recorder.benchmark(
            {
                "group": "model",
                "name": f"model[{cid}]",
                "fullname": f"bench model::{cid}",
                "params": {"case": cid},
                "param": cid,
                "extra_info": {**runner.extra, "load_average": load},
                "options": {"disable_gc": False, "timer": "perf_counter"},
                "stats": {**stats.as_dict(), "data": stats.data},
            }
        )


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
    model = model.eval()
    x = match_input(model, x)
    try:
        call = plan_call(model, x)
        with torch.no_grad():
            outputs = floating_outputs(call(model, x))
    except UsageError as exc:
        raise UsageError(f"target {target}: the model fails on the input {source}: {exc}") from exc
    except Exception as exc:
        raise UsageError(
            f"target {target}: the model fails on the input {source} called as "
            f"{call.description}: {describe_exception(exc)}"
        ) from exc
    if not outputs:
        raise UsageError(f"target {target}: the model's output holds no floating tensor to time")
    described = [f"{where} {tuple(t.shape)}" for where, t in outputs]
    return UserModel(model, x, target, source, call=call, outputs=described)
