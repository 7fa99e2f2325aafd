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

import time
import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
from threadpoolctl import threadpool_info
from torch import nn

import rnnref
from bench.cases import Case
from bench.problem import Outputs, Problem
from bench.runner import Runner, torch_runner
from bench.torchmods import CellLoop, qualname, wrap


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
            out, h_n = last["forward"]
            named = {"out": out}
            if problem.case.cell == "lstm":
                named["h_n"], named["c_n"] = h_n
            else:
                named["h_n"] = h_n
            if training:
                grads = last["grads"]
                named["grad.input"] = grads.input
                named.update({f"grad.{k}": v for k, v in grads.params.items()})
            return {k: np.asarray(v, dtype=np.float64) for k, v in named.items()}

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


@register
class CudnnBackend(Backend):
    """The layer on CUDA (cuDNN), synchronized around every call; TF32 setting recorded."""

    name = "cudnn"

    def skip_reason(self, case: Case) -> str | None:
        if not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        if not torch.backends.cudnn.is_available():
            return "CUDA without cuDNN (torch.backends.cudnn.is_available() is False)"
        return None

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer().to("cuda")
        params = dict(layer.named_parameters())
        tf32 = bool(torch.backends.cudnn.allow_tf32) and torch.cuda.get_device_capability()[0] >= 8
        runner = torch_runner(
            wrap(layer, problem.case.cell),
            params,
            problem,
            qualname(layer),
            device="cuda",
            numerics="tf32" if tf32 else "fp32",
        )
        runner.extra["tf32"] = tf32
        runner.extra["cudnn_enabled"] = bool(torch.backends.cudnn.enabled)
        return runner


class _DynamicQuantized(Backend):
    """quantize_dynamic on a wrapper (so the layer itself is swapped); inference only."""

    qdtype: ClassVar[torch.dtype]
    numerics: ClassVar[str]
    label: ClassVar[str]

    def skip_reason(self, case: Case) -> str | None:
        if case.mode == "training":
            return f"{self.name}: dynamic quantization is inference-only (no gradients)"
        if case.cell.startswith("rnn_"):
            return f"{self.name}: quantize_dynamic has no quantized nn.RNN, it leaves it float"
        return None

    def build(self, problem: Problem) -> Runner:
        wrapper = wrap(problem.fresh_layer(), problem.case.cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            quantized = torch.ao.quantization.quantize_dynamic(
                wrapper, {nn.LSTM, nn.GRU}, dtype=self.qdtype
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
