"""The smoke preset end to end: run file contract, partial file, report, every row checked."""

import json
import re

import pytest

from bench.backends import BACKENDS
from bench.cases import parse_case_id
from bench.check import BOUNDS
from reports.runfile import load_run

from .helpers import run_bench

EXTRA_INFO = {
    "backend", "cell", "mode", "batch", "seq_len", "input_size", "hidden_size", "num_layers",
    "bidirectional", "layout", "fill", "dtype", "device", "threads", "module", "flops", "gflops",
    "pct_peak", "tokens_per_s", "rel_err", "max_abs_err",
}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = run_bench("--preset", "smoke", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_path,) = out.glob("*.json")
    return done, run_path, json.loads(run_path.read_text())


def test_prints_both_paths_and_a_summary(smoke):
    done, run_path, _ = smoke
    assert f"run file: {run_path}" in done.stdout
    assert f"report:   {run_path.with_suffix('.html')}" in done.stdout
    assert "fastest backend per cell and mode" in done.stdout
    assert "bench: expected about " in done.stdout  # the cost model's total, at the start
    rows = re.findall(r"\[row (\d+)/(\d+), pass (\d+)/(\d+), ETA [^\]]+\]", done.stdout)
    assert rows, done.stdout[-2000:]  # progress on each row's line
    assert int(rows[-1][0]) == int(rows[-1][1]) and rows[-1][2] == rows[-1][3]


def test_run_file_keeps_the_contract(smoke):
    _, _, run = smoke
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(run)
    meta = run["rnnref"]
    from reports.runfile import SCHEMA

    assert meta["schema"] == SCHEMA and meta["preset"] == "smoke"
    assert meta["peak_gflops"] > 0
    assert {"torch", "numpy", "BLAS", "CUDA", "cuDNN"} <= set(meta["versions"])
    assert "gpu" in meta and isinstance(meta["noise_warnings"], list)
    for entry in run["benchmarks"]:
        info = entry["extra_info"]
        assert set(info) >= EXTRA_INFO, EXTRA_INFO - set(info)
        assert len(entry["stats"]["data"]) == entry["stats"]["rounds"]  # raw timings kept
        assert info["gflops"] == pytest.approx(info["flops"] / entry["stats"]["median"] / 1e9)
        assert info["pct_peak"] == pytest.approx(100 * info["gflops"] / meta["peak_gflops"])


def test_every_backend_ran_or_was_skipped_with_a_reason(smoke):
    _, _, run = smoke
    timed = {b["extra_info"]["backend"] for b in run["benchmarks"]}
    skipped = run["rnnref"]["skipped"]
    assert all(s["reason"] for s in skipped)
    assert any("inference-only" in s["reason"] for s in skipped)
    skipped_backends = {parse_case_id(s["case"]).backend for s in skipped}
    assert set(BACKENDS) <= timed | skipped_backends | {"torch-cell"}
    assert {"numpy", "torch", "torchscript", "compile", "int8", "fp16", "torch-cell"} <= timed
    assert {"bf16", "torch-no-onednn", "onnxruntime"} <= timed


def test_every_row_was_checked_within_its_bound(smoke):
    _, _, run = smoke
    for entry in run["benchmarks"]:
        info = entry["extra_info"]
        assert 0 <= info["rel_err"] <= BOUNDS[info["numerics"]], info["case"]
    modules = {b["extra_info"]["backend"]: b["extra_info"]["module"] for b in run["benchmarks"]}
    assert modules["int8"].startswith("torch.ao.nn.quantized.dynamic")
    assert modules["compile"].startswith("torch._dynamo.eval_frame.OptimizedModule")


def test_partial_file_holds_the_same_rows(smoke):
    _, run_path, run = smoke
    partial = run_path.with_name(run_path.stem + ".partial.jsonl")
    lines = [json.loads(line) for line in partial.read_text().splitlines()]
    assert all(len(line) == 1 for line in lines)
    assert list(lines[0]) == ["header"] and "rnnref" in lines[0]["header"]
    rows = [line["benchmark"] for line in lines if "benchmark" in line]
    assert len(rows) == 2 * len(run["benchmarks"])  # smoke times every row in two passes
    assert load_run(partial)["benchmarks"] == run["benchmarks"]  # the last line of each row
    timed = len(run["benchmarks"])
    pass_two = {row["extra_info"]["case"]: row for row in rows[timed:]}
    for first in rows[:timed]:
        both = pass_two[first["extra_info"]["case"]]
        assert both["stats"]["data"][: first["stats"]["rounds"]] == first["stats"]["data"]
        assert both["stats"]["rounds"] == 2 * first["stats"]["rounds"]
    skipped = [line["skipped"] for line in lines if "skipped" in line]
    assert skipped == run["rnnref"]["skipped"]


def test_report_is_written(smoke):
    _, run_path, _ = smoke
    html = run_path.with_suffix(".html").read_text()
    assert "<html" in html.lower() and "lstm" in html
