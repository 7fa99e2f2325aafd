"""Synthetic run files that follow DESIGN.md's run-file format exactly.

The tests build runs from known timings (a chosen median and lognormal
noise), so statistics and reports can be checked against what was put in.
"""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import numpy as np

from reports.runfile import SCHEMA

MACHINE = {
    "node": "testbox",
    "processor": "x86_64",
    "machine": "x86_64",
    "python_implementation": "CPython",
    "python_version": "3.11.2",
    "system": "Linux",
    "release": "6.1.0",
    "cpu": {"arch": "X86_64", "brand_raw": "Synthetic CPU @ 2.0GHz", "count": 2},
}

VERSIONS = {"torch": "2.13.0", "numpy": "2.4.6", "blas": "OpenBLAS 0.3.29", "cuda": None}
BOUNDS = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 0.3, "int8": 0.1}
"""What bench writes as rnnref.bounds (bench.check.BOUNDS)."""


def timings(median: float, noise: float, rounds: int, seed: int) -> list[float]:
    """``rounds`` timings whose median is close to ``median``, lognormal spread ``noise``."""
    rng = np.random.default_rng(seed)
    return (median * np.exp(noise * rng.standard_normal(rounds))).tolist()


def stats_of(data: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` object for raw timings ``data``."""
    arr = np.asarray(data)
    q1, median, q3 = np.percentile(arr, [25, 50, 75])
    return {
        "min": float(arr.min()),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
        "stddev": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "rounds": int(arr.size),
        "median": float(median),
        "iqr": float(q3 - q1),
        "q1": float(q1),
        "q3": float(q3),
        "iqr_outliers": 0,
        "stddev_outliers": 0,
        "outliers": "0;0",
        "ld15iqr": float(arr.min()),
        "hd15iqr": float(arr.max()),
        "ops": float(1.0 / arr.mean()),
        "total": float(arr.sum()),
        "data": [float(x) for x in data],
        "iterations": 1,
    }


def case_id(info: dict[str, Any]) -> str:
    """The case id as bench writes it: ``CELL-MODE-BACKEND-bB-tT-iI-hH-lL-DIR-LAYOUT-fFILL``."""
    bidir = "bi" if info["bidirectional"] else "uni"
    return (
        f"{info['cell']}-{info['mode']}-{info['backend']}-b{info['batch']}-t{info['seq_len']}"
        f"-i{info['input_size']}-h{info['hidden_size']}-l{info['num_layers']}-{bidir}"
        f"-{info['layout']}-f{info['fill']:g}"
    )


def benchmark(
    *,
    backend: str = "torch",
    cell: str = "lstm",
    mode: str = "inference",
    batch: int = 16,
    seq_len: int = 100,
    input_size: int = 256,
    hidden_size: int = 256,
    num_layers: int = 1,
    bidirectional: bool = False,
    layout: str = "padded",
    fill: float = 1.0,
    dtype: str = "float32",
    device: str = "cpu",
    median: float = 0.01,
    noise: float = 0.03,
    rounds: int = 25,
    seed: int = 0,
    module: str | None = None,
    rel_err: float = 1e-7,
    peak_gflops: float = 100.0,
    data: list[float] | None = None,
) -> dict[str, Any]:
    """One entry of a run file's ``benchmarks`` list."""
    data = data if data is not None else timings(median, noise, rounds, seed)
    stats = stats_of(data)
    gates = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}[cell]
    dirs = 2 if bidirectional else 1
    tokens = batch * seq_len * fill
    flops = 2.0 * gates * hidden_size * (input_size + hidden_size) * tokens * num_layers * dirs
    flops *= 3.0 if mode == "training" else 1.0
    gflops = flops / stats["median"] / 1e9
    info = {
        "backend": backend,
        "cell": cell,
        "mode": mode,
        "batch": batch,
        "seq_len": seq_len,
        "input_size": input_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "layout": layout,
        "fill": fill,
        "dtype": dtype,
        "device": device,
        "threads": 2,
        "module": module or f"torch.nn.modules.rnn.{cell.upper()}",
        "flops": flops,
        "gflops": gflops,
        "pct_peak": 100.0 * gflops / peak_gflops,
        "tokens_per_s": tokens / stats["median"],
        "rel_err": rel_err,
        "max_abs_err": rel_err * 3.0,
    }
    info["case"] = case_id(info)
    name = f"test_case[{info['case']}]"
    return {
        "group": None,
        "name": name,
        "fullname": f"bench/test_matrix.py::{name}",
        "params": {"case": info["case"]},
        "param": info["case"],
        "extra_info": info,
        "options": {"disable_gc": True, "timer": "perf_counter", "min_rounds": 5},
        "stats": stats,
    }


def run(
    benchmarks: list[dict[str, Any]],
    *,
    skipped: list[dict[str, str]] | None = None,
    failed: list[dict[str, str]] | None = None,
    machine: dict[str, Any] | None = None,
    versions: dict[str, Any] | None = None,
    noise_warnings: list[str] | None = None,
    peak_gflops: float = 100.0,
    preset: str = "quick",
    schema: str = SCHEMA,
) -> dict[str, Any]:
    """A whole run file (pytest-benchmark JSON plus the top-level ``rnnref`` object).

    The result shares no mutable object with the arguments or this module.
    """
    doc = {
        "machine_info": machine or MACHINE,
        "commit_info": {"id": "0" * 40, "branch": "main", "dirty": False},
        "benchmarks": benchmarks,
        "datetime": "2026-11-30T01:00:00+00:00",
        "version": "5.3.1",
        "rnnref": {
            "schema": schema,
            "preset": preset,
            "peak_gflops": peak_gflops,
            "skipped": skipped or [],
            "failed": failed or [],
            "versions": versions or VERSIONS,
            "gpu": None,
            "noise_warnings": noise_warnings or [],
            "bounds": BOUNDS,
        },
    }
    return copy.deepcopy(doc)


def write(path: pathlib.Path, doc: dict[str, Any]) -> pathlib.Path:
    """Write ``doc`` as a run file; return ``path``."""
    path.write_text(json.dumps(doc, indent=1))
    return path


def write_partial(path: pathlib.Path, doc: dict[str, Any], cut_last: bool = False) -> pathlib.Path:
    """Write ``doc`` as a ``.partial.jsonl``; ``cut_last`` truncates the last line mid-write."""
    meta = dict(doc["rnnref"])
    skipped = meta.pop("skipped")
    lines = [json.dumps({"header": {"rnnref": meta, "machine_info": doc["machine_info"]}})]
    lines += [json.dumps({"benchmark": b}) for b in doc["benchmarks"]]
    lines += [json.dumps({"skipped": s}) for s in skipped]
    text = "\n".join(lines) + "\n"
    if cut_last:
        text = text.rstrip("\n")
        text = text[: len(text) - len(lines[-1]) // 2]
    path.write_text(text)
    return path


def matrix(seed: int = 0, hostile: str | None = None) -> dict[str, Any]:
    """A small but complete run: every section of the bench report has rows.

    Timings follow simple rules (numpy 1.5x torch, GRU 0.8x LSTM, int8 0.7x,
    packed saves in proportion to fill, power-of-two batches no faster,
    cost linear in layers), so the claims have known answers.
    """
    speed = {"torch": 1.0, "numpy": 1.5, "torchscript": 0.95, "int8": 0.7}
    cell_cost = {"lstm": 1.0, "gru": 0.8}
    rows = []
    n = seed * 1000

    def add(**kw: Any) -> None:
        nonlocal n
        n += 1
        rows.append(benchmark(seed=n, **kw))

    for cell in ("lstm", "gru"):
        for mode in ("inference", "training"):
            for backend, factor in speed.items():
                if backend == "int8" and mode == "training":
                    continue
                for batch in (1, 16, 64):
                    median = 1e-3 * (1 + batch / 8) * factor * cell_cost[cell]
                    median *= 3 if mode == "training" else 1
                    add(
                        backend=backend,
                        cell=cell,
                        mode=mode,
                        batch=batch,
                        median=median,
                        dtype="qint8" if backend == "int8" else "float32",
                        rel_err=2e-3 if backend == "int8" else 1e-7,
                        module=hostile if backend == "numpy" else None,
                    )
    for fill in (1.0, 0.75, 0.5, 0.25):
        for layout in ("padded", "packed"):
            median = 3e-3 * (fill if layout == "packed" else 1.0) * 1.05
            add(layout=layout, fill=fill, batch=64, seq_len=80, median=median)
    for batch in (31, 32, 33, 63, 64, 65):
        add(batch=batch, seq_len=50, median=1e-4 * batch, hidden_size=512)
    for layers in (1, 2, 3, 4):
        add(num_layers=layers, seq_len=50, median=1e-3 * (0.2 + layers))
    return run(
        rows,
        skipped=[
            {"case": "lstm-training-int8-b16", "reason": "int8 quantization is inference-only"},
            {"case": "lstm-inference-cudnn-b16", "reason": "no CUDA device"},
        ],
        noise_warnings=["lstm-inference-numpy-b1: IQR is 14% of the median"],
    )
