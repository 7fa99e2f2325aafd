"""The backend registry: who is there, what each skips and why, and that each one runs."""

import pytest
import torch

from bench.backends import BACKENDS
from bench.cases import Case
from bench.check import verify
from bench.problem import make_problem

REQUIRED = {"numpy", "torch", "torchscript", "cudnn", "int8"}
TINY = dict(batch=3, seq_len=5, input_size=4, hidden_size=6)


def test_required_and_welcome_backends_are_registered():
    assert REQUIRED | {"compile", "fp16", "torch-cell"} <= set(BACKENDS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cudnn_without_gpu_is_skipped_with_a_reason():
    reason = BACKENDS["cudnn"].skip_reason(Case("lstm", "inference", "cudnn", **TINY))
    assert reason and "CUDA" in reason


@pytest.mark.parametrize("backend", ["int8", "fp16"])
def test_quantized_backends_skip_training_and_plain_rnn(backend):
    skip = BACKENDS[backend].skip_reason
    assert "inference-only" in skip(Case("lstm", "training", backend, **TINY))
    assert "nn.RNN" in skip(Case("rnn_tanh", "inference", backend, **TINY))
    assert skip(Case("gru", "inference", backend, **TINY)) is None


def test_compile_skips_packed_with_a_reason():
    assert "pack" in BACKENDS["compile"].skip_reason(
        Case("lstm", "inference", "compile", layout="packed", fill=0.6, **TINY)
    )


# compile is left out here (seconds per build); the smoke run covers it end to end.
@pytest.mark.parametrize("backend", sorted(set(BACKENDS) - {"compile"}))
@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_every_backend_agrees_with_the_reference(backend, mode, cell):
    case = Case(
        cell, mode, backend, num_layers=2, bidirectional=True, layout="packed", fill=0.6, **TINY
    )
    if BACKENDS[backend].skip_reason(case):
        pytest.skip(BACKENDS[backend].skip_reason(case))
    problem = make_problem(case)
    runner = BACKENDS[backend].build(problem)
    agreement = verify(runner, problem, case.id)
    assert (
        agreement.rel_err
        <= {"fp32": 1e-4, "fp16": 1e-2, "bf16": 0.3, "int8": 0.1, "tf32": 1e-2}[runner.numerics]
    )
    if mode == "training":
        assert "grad.weight_hh_l1_reverse" in runner.outputs()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_onnxruntime_runs_the_exported_layer_and_says_how_it_was_exported(cell):
    case = Case(cell, "inference", "onnxruntime", num_layers=2, bidirectional=True, **TINY)
    reason = BACKENDS["onnxruntime"].skip_reason(case)
    if reason:
        pytest.skip(reason)
    problem = make_problem(case)
    runner = BACKENDS["onnxruntime"].build(problem)
    assert verify(runner, problem, case.id).rel_err <= 1e-4
    assert runner.extra["exporter"].startswith("torch.onnx.export(")
    assert runner.extra["opset"] >= 9
    assert runner.module.startswith("onnxruntime.InferenceSession[CPUExecutionProvider]")


def test_onnxruntime_without_its_packages_is_skipped_with_the_install_step(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name)
    )
    reason = BACKENDS["onnxruntime"].skip_reason(Case("lstm", "inference", "onnxruntime", **TINY))
    assert "onnxruntime not installed" in reason and "rnnref[onnx]" in reason


def test_bf16_is_lossy_and_names_the_kernel_that_ran():
    case = Case("lstm", "inference", "bf16", **TINY)
    problem = make_problem(case)
    runner = BACKENDS["bf16"].build(problem)
    assert runner.numerics == "bf16" and runner.dtype == "bfloat16"
    verify(runner, problem, case.id)
    assert runner.extra["kernel"]
    if torch.backends.mkldnn.is_available() and runner.extra["cpu_bf16"]:
        assert runner.extra["kernel"].startswith("oneDNN") and "rnn " in runner.extra["kernel"]


def test_torch_without_onednn_runs_no_onednn_primitive():
    case = Case("lstm", "inference", "torch-no-onednn", **TINY)
    runner = BACKENDS["torch-no-onednn"].build(make_problem(case))
    assert runner.extra["kernel"].startswith("ATen (no oneDNN primitive")
    assert torch.backends.mkldnn.enabled  # switched off only around its own calls
