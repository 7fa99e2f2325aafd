"""The matrix's backends: one entry each, all making the same :class:`Runner`.

A backend answers two questions: ``skip_reason(case)`` (None if the case runs here,
else why not: no GPU, training on a quantized layer, ...) and ``build(problem)`` (a
Runner whose ``module`` names what really ran).

Most backends are deployment paths (:mod:`bench.paths`, the declarations ``bench
model`` runs on the user's whole model too): :class:`PathBackend` builds the case's
layer in its wrapper and hands it to the path, under the matrix's backend name
(``torch`` is the ``eager`` path, ``cudnn*`` the ``cuda`` path in fp32, TF32 and
fp16). Adding a path touches bench/paths.py, and this file's list where the matrix
runs it too. The others run what is no deployment of a torch module: ``numpy``
(rnnref) and ``torch-cell`` (the layer rewritten as a loop over cells).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from threadpoolctl import threadpool_info

import rnnref
from bench.cases import Case
from bench.paths import PATHS, Cuda, Deployed, NoOneDNN, Path, Subject, deploy
from bench.problem import Outputs, Problem, rnnref_outputs
from bench.torchmods import CellLoop, qualname, wrap
from bench.workload import Runner, torch_runner


class Backend(ABC):
    """Base class: a backend runs every case unless :meth:`skip_reason` says otherwise.

    ``thread_pool`` names the worker threads its calls run on: rows of different pools
    must not follow each other without a pause (:data:`usermodel.timing.SETTLE_S`).
    """

    name: str
    thread_pool: str = "torch"

    def skip_reason(self, case: Case) -> str | None:
        """Why ``case`` cannot run on this backend here, or None if it can."""
        return None

    @abstractmethod
    def build(self, problem: Problem) -> Runner:
        """A Runner for ``problem`` (its case's mode and layout) on this backend."""


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    BACKENDS[backend.name] = backend
    return backend


def _blas_threads() -> int | None:
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else None


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


class PathBackend(Backend):
    """A deployment path (:mod:`bench.paths`) run on the case's layer under ``name``: the
    seeded layer in its wrapper (:func:`bench.torchmods.wrap`, called as
    ``wrapper(x, lengths)``) is the subject the path prepares."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path, self.thread_pool = name, path, path.thread_pool

    def skip_reason(self, case: Case) -> str | None:
        return self.path.skip_reason(case.mode, case)

    def build(self, problem: Problem) -> Runner:
        case = problem.case
        subject = Subject(
            wrap(problem.fresh_layer(), case.cell),
            (torch.from_numpy(problem.x),),
            layer="rnn",
            case=case,
            call="wrapper(x, lengths)",
        )

        def runner(deployed: Deployed) -> Runner:
            return torch_runner(
                deployed.call,
                deployed.params,
                problem,
                deployed.module,
                device=deployed.device,
                dtype=deployed.dtype or "float32",
                numerics=deployed.numerics,
                cast=deployed.cast or torch.float32,
            )

        return deploy(self.path, subject, runner)


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


class CudnnBackend(PathBackend):
    """The ``cuda`` path in ``numerics`` on the case's layer (cuDNN), with what torch's
    ``get_algo`` asks cuDNN for at the case's sizes (:func:`cudnn_algo`) and the
    persistent-kernel conditions."""

    def __init__(self, name: str, numerics: str) -> None:
        super().__init__(name, Cuda(name, numerics))

    def build(self, problem: Problem) -> Runner:
        runner = super().build(problem)
        props = torch.cuda.get_device_properties(0)
        gpu = (props.major, props.minor, props.multi_processor_count)
        case = problem.case
        runner.extra.update(
            persist_conditions=persist_conditions(case, *gpu),
            cudnn_algo_forward=cudnn_algo(case, runner.dtype, True, *gpu),
            cudnn_algo_source=PERSIST_RULE_SOURCE,
        )
        if case.mode == "training":
            runner.extra["cudnn_algo_backward"] = cudnn_algo(case, runner.dtype, False, *gpu)
        return runner


class TorchCellBackend(Backend):
    """A Python loop over nn.RNNCell / LSTMCell / GRUCell sharing the layer's weights."""

    name = "torch-cell"

    def build(self, problem: Problem) -> Runner:
        layer = problem.fresh_layer()
        params = dict(layer.named_parameters())
        loop = CellLoop(layer, problem.case.cell)
        module = f"{qualname(loop)}({qualname(loop.cells[0])})"
        return torch_runner(loop, params, problem, module)


for backend in (
    NumpyBackend(),
    PathBackend("torch", PATHS["eager"]),
    PathBackend("torchscript", PATHS["torchscript"]),
    PathBackend("compile", PATHS["compile"]),
    CudnnBackend("cudnn", "fp32"),
    CudnnBackend("cudnn-tf32", "tf32"),
    CudnnBackend("cudnn-fp16", "fp16"),
    PathBackend("int8", PATHS["int8"]),
    PathBackend("fp16", PATHS["fp16"]),
    TorchCellBackend(),
    PathBackend("torch-no-onednn", NoOneDNN()),
    PathBackend("bf16", PATHS["bf16"]),
    PathBackend("onnxruntime", PATHS["onnxruntime"]),
):
    register(backend)
