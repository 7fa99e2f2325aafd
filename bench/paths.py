"""The registry of deployment paths: each way to run a recurrent network, declared once.

A *path* is one way people ship a model: ``eager``, ``flush-denormal`` (eager with
subnormal floats flushed to zero), ``torchscript`` (script, else trace), ``compile``,
``int8`` and ``fp16`` (dynamic quantization), ``bf16``, ``onnxruntime``, ``cuda``. Each
is one small class that prepares an ``nn.Module`` for itself, whatever it holds: a
matrix case's layer in its wrapper (:mod:`bench.backends` makes the matrix's backends of
these paths) or the user's whole model (:mod:`bench.model`). A path says

- ``skip_reason(mode, case)``: why it cannot run here (no GPU, a package missing,
  training on a quantized model), ``case`` being the matrix case of a layer or None for
  a whole model;
- ``prepare(subject) -> Deployed``: the callable to time, in place of the module, what
  it really is (``module``), the numerics whose error bound it is checked against
  (:data:`bench.check.BOUNDS`) and the dtype and device it computes in;
- ``observe(step, subject)``: what a first call shows (torch.compile's compilation time
  and graphs, the native kernels that ran, GPU memory and kernels).

The caller turns the prepared callable into a :class:`~bench.workload.Runner` the way its
subject is called (:func:`deploy`). A path whose tool refuses the module raises
:class:`Unsupported` with the tool's own one-line error (a skipped row for bench
model); one that would time something other than it claims raises :class:`TrapError`.

Traps guarded against: quantize_dynamic on a bare nn.LSTM quantizes nothing, so it is
applied to a parent module and the swap is checked; torch.jit.script of a bare nn.LSTM
has no compiled forward, so the wrapper with a real forward is scripted; torch.compile of
an RNN compiles no graph unless dynamo's ``allow_rnn`` is set, so it is set and the
number of compiled graphs is checked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from bench.cases import Case
from bench.kernels import kernel_description
from bench.native_output import captured_stdout
from bench.torchmods import qualname
from bench.workload import Runner
from rnnref.cells import cell_type
from usermodel.errors import user_line

COMPILE_TRAINING = (
    "compile training: AOTAutograd unrolls every step of the sequence into one graph, "
    "compiling takes minutes per case; left out of this preset's time budget"
)


class TrapError(RuntimeError):
    """What would run is not what the path claims (e.g. a layer left unquantized)."""


class Unsupported(Exception):
    """The path's tool refuses the module: its one-line reason (bench model skips the row)."""


@dataclass
class Subject:
    """What a path prepares: a private float32 (or the user's dtype) CPU module.

    ``module`` is called as ``module(*args, **kwargs)`` (``args``: the example inputs of
    one call, for tracing and export). ``layer`` names the attribute of ``module`` that is
    a matrix case's layer (``case``), None for the user's whole model; ``named`` is what
    ``module`` strings name and whose parameters' gradients are checked.
    """

    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    layer: str | None = None
    case: Case | None = None
    call: str = "module(x)"  # how it is called, for messages

    @property
    def named(self) -> nn.Module:
        return getattr(self.module, self.layer) if self.layer else self.module

    @property
    def what(self) -> str:
        return "layer" if self.layer else "model"

    def params(self) -> dict[str, nn.Parameter]:
        """The parameters of :attr:`named` by name (torch's names for a layer)."""
        return dict(self.named.named_parameters())


@dataclass
class Deployed:
    """A subject prepared for a path: ``call`` replaces ``subject.module`` (same arguments).

    ``params``: the parameters whose gradients a training row checks; ``cast``: the dtype
    a floating input, the state and the output gradient are given in (None: as they are);
    ``dtype``: the row's label (None: ``cast``'s name, else the input's); ``around``: a
    context entered around every call (flush-denormal, cuDNN's TF32 switch).
    """

    call: Callable[..., Any]
    module: str
    params: dict[str, nn.Parameter]
    numerics: str = "fp32"
    cast: torch.dtype | None = None
    dtype: str | None = None
    device: str = "cpu"
    around: Callable[[], AbstractContextManager] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Path(ABC):
    """One deployment path; runs every mode and case unless :meth:`skip_reason` says not.

    ``thread_pool`` names the worker threads its calls run on: rows of different pools
    must not follow each other without a pause (:data:`usermodel.timing.SETTLE_S`).
    """

    name: str
    thread_pool: ClassVar[str] = "torch"
    inference_only: ClassVar[str | None] = None  # why it has no training rows

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        """Why this path cannot run ``mode`` here (on ``case``'s layer, or on a whole model
        when None), or None if it can."""
        if self.inference_only and mode == "training":
            return f"{self.name}: {self.inference_only}"
        return None

    @abstractmethod
    def prepare(self, subject: Subject) -> Deployed:
        """``subject`` ready to run on this path; Unsupported when the tool refuses it."""

    def observe(self, step: Callable[[], Any], subject: Subject) -> dict[str, Any]:
        """Facts a first call of ``step`` shows; may raise Unsupported or TrapError."""
        return {}


def deploy(path: Path, subject: Subject, make_runner: Callable[[Deployed], Runner]) -> Runner:
    """The Runner of ``subject`` on ``path``: prepared, made into a Runner by the caller's
    ``make_runner`` (how its subject is called and checked), every call inside the path's
    ``around``, and the path's facts in ``extra``."""
    deployed = path.prepare(subject)
    runner = make_runner(deployed)
    if deployed.around is not None:
        inner, around = runner.step, deployed.around

        def step() -> Any:
            with around():
                return inner()

        runner.step = step
    runner.extra.update(deployed.extra)
    runner.extra.update(path.observe(runner.step, subject))
    return runner


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def export_reason(exc: BaseException) -> str:
    """The tool's own error as one line: the innermost cause (torch.onnx wraps torch.export's
    error in a page of advice), colour codes removed, e.g. ``TorchExportError: TypeError:
    zeros(): argument 'size' ...``."""
    inner = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    lines = _ANSI.sub("", str(inner)).strip().splitlines()
    reason = f"{type(inner).__name__}: {lines[0] if lines else '(no message)'}"
    return reason if inner is exc else f"{type(exc).__name__}: {reason}"


def refusal(exc: BaseException) -> str:
    """Why a tool refused the module: its own error as one line, and the user's line of
    code it met, e.g. ``RuntimeError: mat1 and mat2 must have the same dtype ... (at
    model.py:19 in forward)``."""
    return f"{export_reason(exc)}{user_line(exc)}"


class Eager(Path):
    """The module as written, on the CPU (oneDNN as torch decides)."""

    name = "eager"

    def prepare(self, subject: Subject) -> Deployed:
        return Deployed(subject.module, qualname(subject.named), subject.params())


@contextlib.contextmanager
def _flushing_denormals() -> Iterator[None]:
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class FlushDenormal(Path):
    """Eager with ``torch.set_flush_denormal(True)`` around each call, off again after it.

    x86 computes subnormal floats (float32 below 1.2e-38) 10-100 times slower than normal
    ones; a gradient that fades back through a long sequence (a classifier on the last
    step) reaches them, and flushing them to zero is the usual cure. The check against
    float64 keeps the fp32 bound: what is flushed is below any value that shows in it.
    """

    name = "flush-denormal"

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        supported = torch.set_flush_denormal(True)
        torch.set_flush_denormal(False)
        return None if supported else "this CPU cannot flush subnormal floats (no SSE3)"

    def prepare(self, subject: Subject) -> Deployed:
        module = f"{qualname(subject.named)}(flush_denormal)"
        return Deployed(subject.module, module, subject.params(), around=_flushing_denormals)


@contextlib.contextmanager
def _onednn_off() -> Iterator[None]:
    with warnings.catch_warnings():
        # turning oneDNN off warns that TF32 on oneDNN needs an Intel GPU
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            yield


class NoOneDNN(Path):
    """Eager with oneDNN off (``torch.backends.mkldnn.flags(enabled=False)``) around each
    call: torch's own ATen kernels; the contender of DESIGN.md's thread-for-thread bar
    for rnnref (a matrix backend, ``torch-no-onednn``)."""

    name = "torch-no-onednn"

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        if not torch.backends.mkldnn.is_available():
            return "torch-no-onednn: this torch has no oneDNN, the torch rows already run without"
        return None

    def prepare(self, subject: Subject) -> Deployed:
        return Deployed(
            subject.module, qualname(subject.named), subject.params(), around=_onednn_off
        )

    def observe(self, step: Callable[[], Any], subject: Subject) -> dict[str, Any]:
        return {"kernel": kernel_description(step)}


class TorchScript(Path):
    """torch.jit.script of the module; where scripting fails, torch.jit.trace on its inputs.
    ``torchscript`` records which, ``script_error`` why scripting failed, ``graph_nodes``
    the size of the compiled forward."""

    name = "torchscript"

    def prepare(self, subject: Subject) -> Deployed:
        extra: dict[str, Any] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compiled = torch.jit.script(subject.module)
                extra["torchscript"] = "script"
            except Exception as script_error:
                extra["script_error"] = refusal(script_error)
                try:
                    compiled = torch.jit.trace(
                        subject.module, subject.args, strict=False, check_trace=False
                    )
                except Exception as trace_error:
                    raise Unsupported(
                        f"torch.jit.script: {extra['script_error']}; "
                        f"torch.jit.trace: {refusal(trace_error)}"
                    ) from None
                extra["torchscript"] = "trace"
        extra["graph_nodes"] = len(list(compiled.graph.nodes()))
        if extra["graph_nodes"] == 0:
            raise TrapError(f"torch.jit.{extra['torchscript']} produced no graph for the forward")
        names = [compiled.original_name]
        if subject.layer:
            names.append(getattr(compiled, subject.layer).original_name)
        module = f"{qualname(compiled)}({'/'.join(names)})"
        return Deployed(compiled, module, subject.params(), extra=extra)


class Compile(Path):
    """torch.compile with dynamo's allow_rnn; the first call (the compilation) is timed
    apart (``compile_s``) and the graphs it compiled are counted (``graphs``)."""

    name = "compile"

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        if case is not None and case.layout == "packed":
            return "torch.compile: pack_padded_sequence breaks the graph, the layer runs eager"
        if case is None and mode == "training":
            return COMPILE_TRAINING
        return None

    def prepare(self, subject: Subject) -> Deployed:
        import torch._dynamo

        torch._dynamo.config.allow_rnn = True
        torch._dynamo.reset()
        compiled = torch.compile(subject.module)
        module = f"{qualname(compiled)}({qualname(subject.named)})"
        return Deployed(compiled, module, subject.params())

    def observe(self, step: Callable[[], Any], subject: Subject) -> dict[str, Any]:
        from torch._dynamo.utils import counters

        graphs_before = counters["stats"]["unique_graphs"]
        start = time.perf_counter()
        try:
            step()
        except Exception as exc:
            raise Unsupported(f"torch.compile: {refusal(exc)}") from None
        compile_s = time.perf_counter() - start
        graphs = counters["stats"]["unique_graphs"] - graphs_before
        if graphs == 0:
            raise TrapError(f"torch.compile compiled no graph: the {subject.what} would run eager")
        return {"compile_s": compile_s, "graphs": graphs}


QUANTIZABLE = ("LSTM", "GRU")
"""The recurrent torch.nn layers (rnnref.CellType.torch_layer) that quantize_dynamic swaps."""


class DynamicQuantized(Path):
    """quantize_dynamic of the module's nn.LSTM, nn.GRU and nn.Linear children; inference
    only. ``quantized`` lists the module types swapped in; a matrix case's layer must be
    one of them (else TrapError: the row would time a float layer)."""

    inference_only = "dynamic quantization is inference-only (no gradients)"

    def __init__(self, name: str, qdtype: torch.dtype, numerics: str, label: str) -> None:
        self.name, self.qdtype, self.numerics, self.label = name, qdtype, numerics, label

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        inference_only = super().skip_reason(mode, case)
        if inference_only is None and case is not None:
            layer = cell_type(case.cell).torch_layer
            if layer not in QUANTIZABLE:
                return (
                    f"{self.name}: quantize_dynamic has no quantized nn.{layer}, it leaves it float"
                )
        return inference_only

    def prepare(self, subject: Subject) -> Deployed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                subject.module,
                {*(getattr(nn, layer) for layer in QUANTIZABLE), nn.Linear},
                dtype=self.qdtype,
            )
        swapped = sorted(
            {
                qualname(m)
                for m in quantized.modules()
                if qualname(m).startswith("torch.ao.nn.quantized")
            }
        )
        if subject.layer:
            module = qualname(getattr(quantized, subject.layer))
            if not module.startswith("torch.ao.nn.quantized"):
                raise TrapError(f"quantize_dynamic left the layer unquantized: {module}")
        elif swapped:
            module = f"{qualname(quantized)}[{', '.join(swapped)}]"
        else:
            raise Unsupported(
                f"quantize_dynamic({self.label}): the model has no nn.LSTM, nn.GRU or nn.Linear "
                "to quantize"
            )
        extra = {"quantized": swapped, "quantized_engine": torch.backends.quantized.engine}
        return Deployed(
            quantized, module, {}, numerics=self.numerics, dtype=self.label, extra=extra
        )


class Bf16(Path):
    """The module, a floating input, the state and (in training) the output gradient in
    bfloat16 on the CPU; ``kernel`` records what really ran (oneDNN's LSTM on AMX tiles, a
    bf16 matmul, ...)."""

    name = "bf16"

    def prepare(self, subject: Subject) -> Deployed:
        module = subject.module.to(torch.bfloat16)
        return Deployed(
            module,
            qualname(subject.named),
            subject.params(),
            numerics="bf16",
            cast=torch.bfloat16,
            dtype="bfloat16",
        )

    def observe(self, step: Callable[[], Any], subject: Subject) -> dict[str, Any]:
        try:
            kernel = kernel_description(step)
        except Exception as exc:
            raise Unsupported(f"bfloat16: {refusal(exc)}") from None
        return {"kernel": kernel, "cpu_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}


def export_onnx(module: nn.Module, args: tuple[Any, ...]) -> tuple[bytes, str]:
    """``module`` exported for ``args``: the ONNX model's bytes and the exporter used.

    torch.onnx's dynamo exporter first (torch.export, torch's default); where it fails, the
    TorchScript-based one, its native output captured (torch 2.13's ``setup_onnx_logging``
    reads ``_jit_is_onnx_log_enabled`` without calling it, so the exporter's log is always
    on, and a failure prints the whole TorchScript graph to descriptor 1). Raises the
    dynamo exporter's error when both fail.
    """
    import io
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(module, args, dynamo=True, verbose=False)
            return program.model_proto.SerializeToString(), "torch.onnx.export(dynamo=True)"
        except Exception as dynamo_error:
            buffer = io.BytesIO()
            try:  # torch 2.13 turns this exporter's log on: a failure prints its whole graph
                with captured_stdout():
                    torch.onnx.export(module, args, buffer, dynamo=False)
            except Exception:
                raise dynamo_error  # noqa: B904 (``from None`` would drop its own cause)
            return buffer.getvalue(), "torch.onnx.export(dynamo=False)"


def onnx_session(model: bytes, threads: int):
    """An ONNX Runtime session on the CPU provider, ``threads`` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_facts(model: bytes) -> dict[str, Any]:
    """opset and the graph's operator types, for the row's extra_info."""
    import onnx

    proto = onnx.load_from_string(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "onnx_ops": sorted({node.op_type for node in proto.graph.node})}


def onnx_missing() -> str | None:
    """Why the ONNX path cannot run here (a package missing), or None."""
    packages = ("onnx", "onnxruntime", "onnxscript")
    missing = [m for m in packages if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install 'rnnref[onnx]')"
    return None


def _tensors(args: tuple[Any, ...]) -> list[torch.Tensor]:
    return [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]


class OnnxRuntime(Path):
    """The module exported with torch.onnx (:func:`export_onnx`) and run by ONNX Runtime's
    CPU provider with torch's thread count; inference only. Each call feeds the tensors of
    its arguments in order and returns the graph's outputs as tensors. ``exporter``,
    ``opset`` and the ONNX operators are recorded."""

    name = "onnxruntime"
    thread_pool = "ONNX Runtime"
    inference_only = "inference only (an exported graph has no backward)"

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        missing = onnx_missing()
        if missing:
            return f"onnxruntime: {missing}"
        inference_only = super().skip_reason(mode, case)
        if inference_only is None and case is not None and case.layout == "packed":
            return (
                "onnxruntime: pack_padded_sequence has data-dependent shapes, "
                "torch.export cannot trace it"
            )
        return inference_only

    def prepare(self, subject: Subject) -> Deployed:
        import onnxruntime

        if subject.kwargs:
            raise Unsupported(
                f"torch.onnx.export: the {subject.what} is called with keyword arguments "
                f"({subject.call}), which an exported graph does not take"
            )
        try:
            model, exporter = export_onnx(subject.module.eval(), subject.args)
            session = onnx_session(model, torch.get_num_threads())
        except Exception as exc:
            raise Unsupported(f"torch.onnx.export: {refusal(exc)}") from None
        names = [i.name for i in session.get_inputs()]
        given = len(_tensors(subject.args))
        if len(names) != given:
            raise Unsupported(
                f"the exported graph takes {len(names)} inputs, not the {given} tensors "
                f"of {subject.call}"
            )

        def call(*args: Any) -> list[torch.Tensor]:
            feed = {n: t.detach().numpy() for n, t in zip(names, _tensors(args), strict=True)}
            return [torch.from_numpy(np.asarray(a)) for a in session.run(None, feed)]

        facts = onnx_facts(model)
        ops = "/".join(facts["onnx_ops"])
        module = f"onnxruntime.InferenceSession[CPUExecutionProvider]({ops})"
        extra = {"exporter": exporter, "onnxruntime": onnxruntime.__version__, **facts}
        return Deployed(call, module, {}, extra=extra)


@contextlib.contextmanager
def _cudnn_tf32(allowed: bool) -> Iterator[None]:
    """cuDNN's TF32 switch set to ``allowed`` for the block, restored after."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def cuda_call_facts(step: Callable[[], Any]) -> dict[str, Any]:
    """One call of ``step`` measured on the GPU, after a first call has allocated cuDNN's
    workspace and flattened weights: ``cuda_peak_bytes`` (torch.cuda.max_memory_allocated
    after reset_peak_memory_stats), ``cuda_resident_bytes`` (allocated before the call:
    weights, inputs, gradients of the last call) and ``cuda_event_ms`` (CUDA events around it,
    the GPU's own clock for the host timer's figure)."""
    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    resident = torch.cuda.memory_allocated()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    step()
    end.record()
    end.synchronize()
    return {
        "cuda_peak_bytes": torch.cuda.max_memory_allocated(),
        "cuda_resident_bytes": resident,
        "cuda_event_ms": start.elapsed_time(end),
    }


def cuda_kernels(step: Callable[[], Any], top: int = 6) -> dict[str, Any]:
    """The GPU kernels of one call of ``step`` as torch's profiler saw them: ``cuda_kernels``,
    the ``top`` names by GPU time (cuDNN's own names show which RNN kernels really ran, which
    torch does not report otherwise), or ``cuda_kernels_error`` when the profiler could not
    trace here (CUPTI missing or refused): an observation, never a reason to fail the row."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
        kernels = [e for e in prof.key_averages() if e.device_type == DeviceType.CUDA]
    except Exception as exc:  # the profiler's failures are many and not the row's
        return {"cuda_kernels_error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    kernels.sort(key=lambda e: e.device_time_total, reverse=True)
    return {"cuda_kernels": [e.key[:160] for e in kernels[:top]]}


class Cuda(Path):
    """The module on the first CUDA device in ``numerics``: ``fp32`` (TF32 off), ``tf32``
    (TF32 allowed), ``fp16`` (module, input, state and output gradient in float16), or
    None: as torch's own switch says (TF32 where allowed, on compute capability 8.0 and
    newer). Every call ends in torch.cuda.synchronize (the timer sees all the kernels).
    Records the TF32 switch, cuDNN's version and benchmark mode, memory and event time
    per call and the kernels that ran (:func:`cuda_call_facts`, :func:`cuda_kernels`)."""

    def __init__(self, name: str, numerics: str | None = None) -> None:
        self.name, self.numerics = name, numerics

    def skip_reason(self, mode: str, case: Case | None = None) -> str | None:
        if not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        if case is not None and not torch.backends.cudnn.is_available():
            return "CUDA without cuDNN (torch.backends.cudnn.is_available() is False)"
        if self.numerics == "tf32" and torch.cuda.get_device_capability()[0] < 8:
            return f"{self.name}: TF32 needs compute capability 8.0 or newer"
        return None

    def _tf32(self) -> bool:
        if self.numerics is None:
            return bool(torch.backends.cudnn.allow_tf32) and (
                torch.cuda.get_device_capability()[0] >= 8
            )
        return self.numerics == "tf32"

    def prepare(self, subject: Subject) -> Deployed:
        half = self.numerics == "fp16"
        module = subject.module.to("cuda", torch.float16) if half else subject.module.to("cuda")
        tf32 = self._tf32()
        return Deployed(
            module,
            qualname(subject.named),
            subject.params(),
            numerics="fp16" if half else "tf32" if tf32 else "fp32",
            cast=torch.float16 if half else None,
            dtype="float16" if half else None,
            device="cuda",
            around=None if self.numerics is None else lambda: _cudnn_tf32(tf32),
            extra={"tf32": tf32},
        )

    def observe(self, step: Callable[[], Any], subject: Subject) -> dict[str, Any]:
        return {
            "cudnn_version": torch.backends.cudnn.version(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            **cuda_call_facts(step),
            **cuda_kernels(step),
        }


PATHS: dict[str, Path] = {
    path.name: path
    for path in (
        Eager(),
        FlushDenormal(),
        TorchScript(),
        Compile(),
        DynamicQuantized("int8", torch.qint8, "int8", "qint8"),
        DynamicQuantized("fp16", torch.float16, "fp16", "float16"),
        Bf16(),
        OnnxRuntime(),
        Cuda("cuda"),
    )
}
"""The paths ``bench model`` runs a whole model on, by name, in running order; the matrix's
backends (:data:`bench.backends.BACKENDS`) run the same declarations on one layer."""
