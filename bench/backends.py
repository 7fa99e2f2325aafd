"""The registry of backends: one small class each, all making the same :class:`Runner`.

A backend answers two questions: ``skip_reason(case)`` (None if the case runs here,
else why not: no GPU, training on a quantized layer, ...) and ``build(problem)`` (a
Runner whose ``module`` names what really ran). Adding a backend touches only this file.

Traps the builds guard against (each raises :class:`TrapError` instead of timing the
wrong thing): quantize_dynamic on a bare nn.LSTM quantizes nothing, so it is applied
to a wrapper and the swapped layer's type is checked; torch.jit.script of a bare
nn.LSTM has no compiled forward, so a wrapper with a real forward is scripted;
torch.compile of an RNN compiles no graph unless dynamo's ``allow_rnn`` is set, so it
is set and the number of compiled graphs is checked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from threadpoolctl import threadpool_info
from torch import nn

import rnnref
from bench.cases import Case
from bench.kernels import kernel_description
from bench.problem import Outputs, Problem, named_outputs, rnnref_outputs
from bench.runner import Runner, torch_runner
from bench.torchmods import CellLoop, qualname, wrap
from rnnref.cells import cell_type


class TrapError(RuntimeError):
    """What would run is not what the backend claims (e.g. a layer left unquantized)."""


class Backend(ABC):
    """Base class: a backend runs every case unless :meth:`skip_reason` says otherwise.

    ``thread_pool`` names the worker threads its calls run on: rows of different pools
    must not follow each other without a pause (:data:`bench.runner.SETTLE_S`).
    """

    name: ClassVar[str]
    thread_pool: ClassVar[str] = "torch"

    def skip_reason(self, case: Case) -> str | None:
        """Why ``case`` cannot run on this backend here, or None if it can."""
        return None

    @abstractmethod
    def build(self, problem: Problem) -> Runner:
        """A Runner for ``problem`` (its case's mode and layout) on this backend."""


BACKENDS: dict[str, Backend] = {}


def register(cls: type[Backend]) -> type[Backend]:
    BACKENDS[cls.name] = cls()
    return cls


def _blas_threads() -> int | None:
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else None


@register
class NumpyBackend(Backend):
    """rnnref in float32: NumPy with its BLAS (threads pinned by the harness)."""

    name = "numpy"
    thread_pool = "NumPy's BLAS"

    def build(self, problem: Problem) -> Runner:
        model = rnnref.from_torch(problem.layer, dtype=np.float32)
        training = problem.case.mode == "training"
        x, lengths, grad_out = problem.x, problem.run_lengths, problem.grad_out
        last: dict = {}

        def step() -> None:
            last["forward"] = model(x, lengths=lengths)
            if training:
                last["grads"] = model.backward(grad_out)

        def outputs() -> Outputs:
            return rnnref_outputs(last["forward"], last.get("grads"))

        return Runner(step, outputs, qualname(model), extra={"blas_threads": _blas_threads()})


@register
class TorchBackend(Backend):
    """torch.nn.RNN / LSTM / GRU, eager, on the CPU (oneDNN as torch decides)."""

    name = "torch"

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        return torch_runner(wrap(layer, problem.case.cell), params, problem, qualname(layer))


@register
class TorchScriptBackend(Backend):
    """A wrapper module around the layer, compiled with torch.jit.script."""

    name = "torchscript"

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(wrap(layer, problem.case.cell))
        nodes = len(list(scripted.forward.graph.nodes()))
        if nodes == 0:
            raise TrapError("torch.jit.script produced no graph for the wrapper's forward")
        module = f"{qualname(scripted)}({scripted.original_name}/{scripted.rnn.original_name})"
        runner = torch_runner(scripted, params, problem, module)
        runner.extra["graph_nodes"] = nodes
        return runner


@register
class CompileBackend(Backend):
    """torch.compile of the wrapper with dynamo's allow_rnn; compile time kept apart."""

    name = "compile"

    def skip_reason(self, case: Case) -> str | None:
        if case.layout == "packed":
            return "torch.compile: pack_padded_sequence breaks the graph, the layer runs eager"
        return None

    def build(self, problem: Problem) -> Runner:
        import torch._dynamo
        from torch._dynamo.utils import counters

        torch._dynamo.config.allow_rnn = True
        torch._dynamo.reset()
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        compiled = torch.compile(wrap(layer, problem.case.cell))
        module = f"{qualname(compiled)}({qualname(layer)})"
        runner = torch_runner(compiled, params, problem, module)
        graphs_before = counters["stats"]["unique_graphs"]
        start = time.perf_counter()
        runner.step()
        runner.extra["compile_s"] = time.perf_counter() - start
        graphs = counters["stats"]["unique_graphs"] - graphs_before
        if graphs == 0:
            raise TrapError("torch.compile compiled no graph: the layer would run eager")
        runner.extra["graphs"] = graphs
        return runner


PERSIST_RULE_SOURCE = (
    "torch does not expose the cudnnRNNAlgo_t it passes to cuDNN; cudnn_algo_* is what "
    "torch's get_algo (aten/src/ATen/native/cudnn/RNN.cpp) asks for at these sizes on this GPU"
)


def persist_conditions(case: Case, major: int, minor: int, sm_count: int) -> bool:
    """Whether ``case`` meets torch's conditions for cuDNN's persistent RNN kernel on a GPU of
    compute capability ``major.minor`` with ``sm_count`` multiprocessors (dtype aside: torch
    asks for it only in float16).

    torch's ``use_persist_common_heuristics``: one layer, unidirectional, hidden <= 1024 and
    hidden and input multiples of 128; ``use_persist_device_heuristics`` on sm_80 and newer
    with >= 98 SMs except sm_86: never for GRU, LSTM at batch % 8 == 0 and batch <= 128, tanh
    and ReLU RNNs likewise but not at batch >= 96 with hidden >= 896 (Volta has its own rule).
    """
    common = (
        case.num_layers == 1
        and not case.bidirectional
        and case.hidden_size <= 1024
        and case.hidden_size % 128 == 0
        and case.input_size % 128 == 0
    )
    batch = case.batch
    if major == 7 and minor != 5:
        device = ((batch % 16 == 0 and batch not in (80, 112)) or batch == 8) and (
            (case.seq_len >= 40 and batch <= 128)
            or (case.seq_len >= 20 and batch <= 96)
            or (case.seq_len >= 10 and batch <= 32)
        )
    elif major >= 8 and sm_count >= 98 and minor != 6:
        fits = batch % 8 == 0 and batch <= 128
        if case.cell == "gru":
            device = False
        elif case.cell == "lstm":
            device = fits
        else:
            device = fits and (batch < 96 or case.hidden_size < 896)
    else:
        device = False
    return common and device


def cudnn_algo(case: Case, dtype: str, forward: bool, major: int, minor: int, sm_count: int) -> str:
    """The cuDNN RNN algorithm torch's ``get_algo`` requests for ``case`` in ``dtype``
    (``float32`` or ``float16``), for the forward or the backward pass (cuDNN >= 8.2.1)."""
    if case.layout == "packed":
        return "CUDNN_RNN_ALGO_STANDARD"
    small_h = (384, 192) if forward else (256, 128)  # (tanh/ReLU RNN, LSTM/GRU) hidden limits
    if major >= 6 and case.hidden_size <= small_h[case.cell in ("lstm", "gru")]:
        return "CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H"
    if dtype == "float16" and persist_conditions(case, major, minor, sm_count):
        return "CUDNN_RNN_ALGO_PERSIST_STATIC"
    return "CUDNN_RNN_ALGO_STANDARD"


@contextlib.contextmanager
def _cudnn_tf32(allowed: bool):
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


class _Cudnn(Backend):
    """The layer on CUDA (cuDNN) in ``numerics``; each call runs with cuDNN's TF32 switch set
    for its numerics and ends in torch.cuda.synchronize (the timer sees all the kernels, and
    the next call starts on an idle GPU). Records the cuDNN RNN algorithm torch asks for
    (:func:`cudnn_algo`), the persistent-kernel conditions, memory and event time per call,
    and the kernels that ran (:func:`cuda_kernels`)."""

    numerics: ClassVar[str]

    def skip_reason(self, case: Case) -> str | None:
        if not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        if not torch.backends.cudnn.is_available():
            return "CUDA without cuDNN (torch.backends.cudnn.is_available() is False)"
        if self.numerics == "tf32" and torch.cuda.get_device_capability()[0] < 8:
            return f"{self.name}: TF32 needs compute capability 8.0 or newer"
        return None

    def build(self, problem: Problem) -> Runner:
        half = self.numerics == "fp16"
        dtype = torch.float16 if half else torch.float32
        layer = problem.fresh_layer().to("cuda", dtype)
        params = dict(layer.named_parameters())
        runner = torch_runner(
            wrap(layer, problem.case.cell),
            params,
            problem,
            qualname(layer),
            device="cuda",
            dtype=str(dtype).removeprefix("torch."),
            numerics=self.numerics,
            cast=dtype,
        )
        inner, tf32 = runner.step, self.numerics == "tf32"

        def step() -> list[torch.Tensor]:
            with _cudnn_tf32(tf32):
                return inner()

        runner.step = step
        props = torch.cuda.get_device_properties(0)
        gpu = (props.major, props.minor, props.multi_processor_count)
        case = problem.case
        runner.extra.update(
            tf32=tf32,
            cudnn_version=torch.backends.cudnn.version(),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
            persist_conditions=persist_conditions(case, *gpu),
            cudnn_algo_forward=cudnn_algo(case, runner.dtype, True, *gpu),
            cudnn_algo_source=PERSIST_RULE_SOURCE,
            **cuda_call_facts(step),
            **cuda_kernels(step),
        )
        if case.mode == "training":
            runner.extra["cudnn_algo_backward"] = cudnn_algo(case, runner.dtype, False, *gpu)
        return runner


@register
class CudnnBackend(_Cudnn):
    """cuDNN in strict float32 (TF32 off)."""

    name = "cudnn"
    numerics = "fp32"


@register
class CudnnTf32Backend(_Cudnn):
    """cuDNN with TF32 tensor-core math allowed (float32 storage, 10-bit mantissa products)."""

    name = "cudnn-tf32"
    numerics = "tf32"


@register
class CudnnFp16Backend(_Cudnn):
    """The layer, input and output gradient in float16 on cuDNN (float32 accumulation)."""

    name = "cudnn-fp16"
    numerics = "fp16"


QUANTIZABLE = ("LSTM", "GRU")
"""The torch.nn layers (rnnref.CellType.torch_layer) that quantize_dynamic swaps."""


class _DynamicQuantized(Backend):
    """quantize_dynamic on a wrapper (so the layer itself is swapped); inference only."""

    qdtype: ClassVar[torch.dtype]
    numerics: ClassVar[str]
    label: ClassVar[str]

    def skip_reason(self, case: Case) -> str | None:
        if case.mode == "training":
            return f"{self.name}: dynamic quantization is inference-only (no gradients)"
        layer = cell_type(case.cell).torch_layer
        if layer not in QUANTIZABLE:
            return f"{self.name}: quantize_dynamic has no quantized nn.{layer}, it leaves it float"
        return None

    def build(self, problem: Problem) -> Runner:
        wrapper = wrap(problem.fresh_layer(), problem.case.cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            quantized = torch.ao.quantization.quantize_dynamic(
                wrapper, {getattr(nn, layer) for layer in QUANTIZABLE}, dtype=self.qdtype
            )
        module = qualname(quantized.rnn)
        if not module.startswith("torch.ao.nn.quantized"):
            raise TrapError(f"quantize_dynamic left the layer unquantized: {module}")
        runner = torch_runner(
            quantized, {}, problem, module, dtype=self.label, numerics=self.numerics
        )
        runner.extra["quantized_engine"] = torch.backends.quantized.engine
        return runner


@register
class Int8Backend(_DynamicQuantized):
    """Dynamic int8 quantization of the LSTM / GRU weights (activations stay float)."""

    name = "int8"
    qdtype = torch.qint8
    numerics = "int8"
    label = "qint8"


@register
class Fp16Backend(_DynamicQuantized):
    """Dynamic float16 quantization: weights stored in float16."""

    name = "fp16"
    qdtype = torch.float16
    numerics = "fp16"
    label = "float16"


@register
class TorchCellBackend(Backend):
    """A Python loop over nn.RNNCell / LSTMCell / GRUCell sharing the layer's weights."""

    name = "torch-cell"

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        loop = CellLoop(layer, problem.case.cell)
        module = f"{qualname(loop)}({qualname(loop.cells[0])})"
        return torch_runner(loop, params, problem, module)


@register
class TorchNoOneDNNBackend(Backend):
    """torch eager with oneDNN off (``torch.backends.mkldnn.flags(enabled=False)``): torch's
    own ATen kernels; the contender of DESIGN.md's thread-for-thread bar for rnnref."""

    name = "torch-no-onednn"

    def skip_reason(self, case: Case) -> str | None:
        if not torch.backends.mkldnn.is_available():
            return "torch-no-onednn: this torch has no oneDNN, the torch rows already run without"
        return None

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        wrapper = wrap(layer, problem.case.cell)

        def forward(x: torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
            with warnings.catch_warnings():
                # turning oneDNN off warns that TF32 on oneDNN needs an Intel GPU
                warnings.simplefilter("ignore", UserWarning)
                with torch.backends.mkldnn.flags(enabled=False):
                    return wrapper(x, lengths)

        runner = torch_runner(forward, params, problem, qualname(layer))
        runner.extra["kernel"] = kernel_description(runner.step)
        return runner


@register
class Bf16Backend(Backend):
    """The layer, its input and (in training) the output gradient in bfloat16 on the CPU;
    ``kernel`` records what really ran (oneDNN's LSTM on AMX tiles, a bf16 matmul, ...)."""

    name = "bf16"

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer().to(torch.bfloat16)
        params = dict(layer.named_parameters())
        runner = torch_runner(
            wrap(layer, problem.case.cell),
            params,
            problem,
            qualname(layer),
            dtype="bfloat16",
            numerics="bf16",
            cast=torch.bfloat16,
        )
        runner.extra["kernel"] = kernel_description(runner.step)
        runner.extra["cpu_bf16"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
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


def export_onnx(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[bytes, str]:
    """``module`` exported for ``args``: the ONNX model's bytes and the exporter used.

    torch.onnx's dynamo exporter first (torch.export, torch's default); where it fails, the
    TorchScript-based one. Raises the dynamo exporter's error when both fail.
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
            try:
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


@register
class OnnxRuntimeBackend(Backend):
    """The wrapper exported with torch.onnx and run by ONNX Runtime's CPU provider, with
    torch's thread count; inference only. ``exporter``, ``opset`` and the ONNX operators
    are recorded."""

    name = "onnxruntime"
    thread_pool = "ONNX Runtime"

    def skip_reason(self, case: Case) -> str | None:
        missing = onnx_missing()
        if missing:
            return f"onnxruntime: {missing}"
        if case.mode == "training":
            return "onnxruntime: inference only (an exported graph has no backward)"
        if case.layout == "packed":
            return (
                "onnxruntime: pack_padded_sequence has data-dependent shapes, "
                "torch.export cannot trace it"
            )
        return None

    def build(self, problem: Problem) -> Runner:
        import onnxruntime

        wrapper = wrap(problem.fresh_layer(), problem.case.cell).eval()
        x = torch.from_numpy(problem.x)
        model, exporter = export_onnx(wrapper, (x,))
        session = onnx_session(model, torch.get_num_threads())
        feed = {session.get_inputs()[0].name: problem.x}
        last: list[list[np.ndarray]] = []

        def step() -> None:
            last[:] = [session.run(None, feed)]

        def outputs() -> Outputs:
            (result,) = last
            return named_outputs(result)

        facts = onnx_facts(model)
        ops = "/".join(facts["onnx_ops"])
        module = f"onnxruntime.InferenceSession[CPUExecutionProvider]({ops})"
        return Runner(
            step,
            outputs,
            module,
            extra={"exporter": exporter, "onnxruntime": onnxruntime.__version__, **facts},
        )
