"""The GPU check: the gpu preset's cases, torch's persistent-kernel rule, the
cuDNN backends (on CUDA, skipped with their reason elsewhere), the README table and the
prepared script ``scripts/gpu-check``."""

import os
import pathlib
import subprocess

import pytest
import torch

from bench.backends import BACKENDS, cudnn_algo, persist_conditions
from bench.cases import Case
from bench.check import BOUNDS, verify
from bench.gpu_check import DEEPBENCH_BEST, table
from bench.presets import GPU_BACKENDS, GPU_DEEPBENCH, get_preset
from bench.problem import make_problem

SCRIPT = pathlib.Path(__file__).parents[2] / "scripts" / "gpu-check"
H200 = (9, 0, 132)  # compute capability and multiprocessors of the GPU the check is for
CUDNN = ("cudnn", "cudnn-tf32", "cudnn-fp16")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def lstm(batch=128, hidden=1024, **fields):
    return Case("lstm", "training", "cudnn-fp16", batch, 25, hidden, hidden, **fields)


def test_gpu_preset_has_every_deepbench_shape_in_three_numerics_and_on_the_cpu():
    ids = {case.id for case in get_preset("gpu").cases}
    for cell, hidden, batch, seq_len in GPU_DEEPBENCH:
        for mode in ("inference", "training"):
            for backend in GPU_BACKENDS:
                shape = f"b{batch}-t{seq_len}-i{hidden}-h{hidden}-l1-uni-padded-f1"
                assert f"{cell}-{mode}-{backend}-{shape}" in ids
    assert set(DEEPBENCH_BEST) <= set(GPU_DEEPBENCH)
    assert all(16 <= batch <= 128 for _, _, batch, _ in GPU_DEEPBENCH)


def test_gpu_preset_fp16_rows_lie_on_both_sides_of_the_persistent_rule():
    fp16 = [case for case in get_preset("gpu").cases if case.backend == "cudnn-fp16"]
    sides = {persist_conditions(case, *H200) for case in fp16}
    assert sides == {True, False}
    persistent = {
        case.shape_id
        for case in fp16
        if cudnn_algo(case, "float16", True, *H200) == "CUDNN_RNN_ALGO_PERSIST_STATIC"
    }
    assert "b128-t25-i1024-h1024-l1-uni-padded-f1" in persistent
    assert "b124-t25-i1024-h1024-l1-uni-padded-f1" not in persistent


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (lstm(), True),
        (lstm(batch=124), False),  # batch % 8
        (lstm(batch=136), False),  # batch > 128
        (lstm(hidden=1152), False),  # hidden > 1024
        (lstm(hidden=960), False),  # hidden % 128
        (lstm(num_layers=2), False),
        (lstm(bidirectional=True), False),
        (Case("gru", "training", "cudnn-fp16", 64, 25, 512, 512), False),  # never for GRU
        (Case("rnn_tanh", "training", "cudnn-fp16", 96, 25, 896, 896), False),
        (Case("rnn_tanh", "training", "cudnn-fp16", 88, 25, 896, 896), True),
    ],
)
def test_persistent_conditions_follow_torchs_heuristics_on_hopper(case, expected):
    assert persist_conditions(case, *H200) is expected


def test_persistent_conditions_depend_on_the_gpu():
    assert not persist_conditions(lstm(), 8, 6, 84)  # sm_86 (A40, RTX 30xx) excluded
    assert not persist_conditions(lstm(), 8, 0, 56)  # A30: too few SMs
    assert not persist_conditions(lstm(), 7, 5, 72)  # Turing excluded
    assert persist_conditions(lstm(batch=64), 7, 0, 80)  # Volta: its own batch rule
    assert not persist_conditions(lstm(batch=80), 7, 0, 80)


def test_cudnn_algo_is_persistent_only_in_fp16_and_small_h_below_its_limits():
    assert cudnn_algo(lstm(), "float32", True, *H200) == "CUDNN_RNN_ALGO_STANDARD"
    assert cudnn_algo(lstm(), "float16", False, *H200) == "CUDNN_RNN_ALGO_PERSIST_STATIC"
    small = lstm(hidden=160)
    assert cudnn_algo(small, "float32", True, *H200) == "CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H"
    assert cudnn_algo(small, "float32", False, *H200) == "CUDNN_RNN_ALGO_STANDARD"
    packed = lstm(hidden=160, layout="packed", fill=0.5)
    assert cudnn_algo(packed, "float16", True, *H200) == "CUDNN_RNN_ALGO_STANDARD"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("backend", CUDNN)
def test_cudnn_backends_without_cuda_skip_with_a_reason(backend):
    reason = BACKENDS[backend].skip_reason(Case("lstm", "training", backend, 3, 5, 4, 6))
    assert reason == "no CUDA device (torch.cuda.is_available() is False)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_kernels_without_cuda_reports_the_profilers_refusal_instead_of_raising():
    from bench.paths import cuda_kernels

    calls = []
    with pytest.warns(UserWarning, match="CUDA is not available"):
        facts = cuda_kernels(lambda: calls.append(1))
    assert set(facts) == {"cuda_kernels_error"} and facts["cuda_kernels_error"]


def _row(backend, cell, hidden, batch, seq_len, median_s):
    case = f"{cell}-training-{backend}-b{batch}-t{seq_len}-i{hidden}-h{hidden}-l1-uni-padded-f1"
    flops = 3 * 2 * 4 * hidden * 2 * hidden * batch * seq_len
    extra = {"case": case, "gflops": flops / median_s / 1e9}
    return {"extra_info": extra, "stats": {"median": median_s}}


def test_table_reads_times_speedups_and_skips_from_the_run_file():
    run = {
        "rnnref": {
            "preset": "gpu",
            "gpu": "NVIDIA H200",
            "skipped": [
                {
                    "case": "lstm-training-cudnn-fp16-b128-t25-i1024-h1024-l1-uni-padded-f1",
                    "reason": "no CUDA device",
                }
            ],
            "failed": [],
        },
        "benchmarks": [
            _row("cudnn", "lstm", 1024, 128, 25, 0.004),
            _row("cudnn-tf32", "lstm", 1024, 128, 25, 0.002),
            _row("torch", "lstm", 1024, 128, 25, 0.2),
        ],
    }
    line = next(row for row in table(run).splitlines() if row.startswith("| lstm h1024 b128"))
    fwd_tflops = 2 * 4 * 1024 * 2048 * 128 * 25 / 0.004 / 1e12
    assert f"4.00 ms, {fwd_tflops:.2f}" in line
    assert "| skipped |" in line
    assert "9.76 ms, 5.17 (TitanXp)" in line
    assert "| 200.0 | 50.0x / 100.0x / - |" in line
    assert "GPU: NVIDIA H200" in table(run)


def test_table_command_refuses_a_run_of_another_preset(tmp_path):
    other = tmp_path / "quick.json"
    other.write_text('{"rnnref": {"preset": "quick"}, "benchmarks": []}')
    from bench.gpu_check import main

    assert main(["table", str(other)]) == 2
    assert main(["table", str(tmp_path / "missing.json")]) == 2


def test_script_parses_and_its_dry_run_lists_the_steps():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run([str(SCRIPT), "out", "--dry-run"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.split(":")[1].split() == [
        "env",
        "install",
        "tests",
        "preset",
        "table",
        "model",
        "diagnose",
    ]


def test_script_refuses_bad_use_and_a_non_empty_out_dir(tmp_path):
    assert subprocess.run([str(SCRIPT)], capture_output=True).returncode == 2
    (tmp_path / "earlier.json").write_text("{}")
    done = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "not empty" in done.stderr
    assert (tmp_path / "earlier.json").read_text() == "{}"


@needs_cuda
@pytest.mark.parametrize("backend", CUDNN)
@pytest.mark.parametrize("mode", ["inference", "training"])
def test_cudnn_rows_agree_and_record_memory_events_and_algorithm(backend, mode):
    case = Case("lstm", mode, backend, 16, 10, 128, 128)
    if BACKENDS[backend].skip_reason(case):
        pytest.skip(BACKENDS[backend].skip_reason(case))
    problem = make_problem(case)
    tf32_before = torch.backends.cudnn.allow_tf32
    runner = BACKENDS[backend].build(problem)
    assert verify(runner, problem, case.id).rel_err <= BOUNDS[runner.numerics]
    extra = runner.extra
    assert extra["cuda_peak_bytes"] > extra["cuda_resident_bytes"] > 0
    assert extra["cuda_event_ms"] > 0
    assert extra["tf32"] is (backend == "cudnn-tf32")
    assert extra["cudnn_algo_forward"].startswith("CUDNN_RNN_ALGO_")
    assert ("cudnn_algo_backward" in extra) is (mode == "training")
    assert extra.get("cuda_kernels") or extra["cuda_kernels_error"]
    assert torch.backends.cudnn.allow_tf32 == tf32_before  # set around its own calls only


@needs_cuda
def test_cudnn_fp16_runs_in_half_and_strict_fp32_is_exact():
    case = Case("lstm", "inference", "cudnn-fp16", 32, 20, 512, 512)
    problem = make_problem(case)
    half = BACKENDS["cudnn-fp16"].build(problem)
    assert half.dtype == "float16" and half.numerics == "fp16"
    strict = BACKENDS["cudnn"].build(problem)
    assert verify(strict, problem, case.id).rel_err <= 1e-5


def test_script_runs_no_step_once_its_budget_is_spent(tmp_path):
    done = subprocess.run(
        [str(SCRIPT), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "GPU_CHECK_BUDGET_S": "0"},
    )
    assert done.returncode == 1
    assert "env: NOT RUN: the 0s budget is spent" in done.stdout
