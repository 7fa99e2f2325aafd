"""``python -m bench.gpu_check table RUN``: the README's GPU table from a ``gpu`` run file
(or the partial file of an interrupted run).

One line per DeepBench shape of the ``gpu`` preset (training: forward + backward, as
DeepBench times it): cuDNN's median in fp32, TF32 and fp16, each as ms and forward TFLOP/s
(forward FLOPs over the training step's time, how DeepBench's "Fwd TeraFLOPS" column reads),
DeepBench's best published row for that shape where its README gives one, and the speedup
over torch on the CPU in the same run. A row the run skipped or failed reads as such; no
number is written that the run file does not hold.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from bench.flops import TRAINING_FACTOR
from bench.presets import GPU_DEEPBENCH
from reports.runfile import load_run
from rnnref_cli.command import Command, CommandError, standalone

DEEPBENCH_README = "https://github.com/baidu-research/DeepBench#recurrent-ops-results"

DEEPBENCH_BEST = {
    # (cell, hidden, batch, seq_len): (ms, fwd TFLOP/s, GPU), DeepBench README, training
    # "Recurrent Ops Results" (fastest processor per shape; vanilla RNNs are ReLU there).
    ("rnn_relu", 1760, 16, 50): (7.75, 1.20, "TitanX Pascal"),
    ("rnn_relu", 2560, 32, 50): (21.99, 1.86, "TitanX Maxwell"),
    ("lstm", 1024, 128, 25): (9.76, 5.17, "TitanXp"),
}

NUMERICS = (("cudnn", "fp32"), ("cudnn-tf32", "TF32"), ("cudnn-fp16", "fp16"))


def _rows(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows by case id: timed rows with their extra_info and median, skipped and failed ones
    with their reason."""
    rows = {}
    for entry in run.get("benchmarks", []):
        extra = entry["extra_info"]
        rows[extra["case"]] = {"median_s": entry["stats"]["median"], **extra}
    meta = run.get("rnnref", {})
    for skipped in meta.get("skipped", []):
        rows.setdefault(skipped["case"], {"skipped": skipped["reason"]})
    for failed in meta.get("failed", []):
        rows[failed["case"]] = {"failed": failed["error"]}
    return rows


def _case_id(cell: str, backend: str, hidden: int, batch: int, seq_len: int) -> str:
    return f"{cell}-training-{backend}-b{batch}-t{seq_len}-i{hidden}-h{hidden}-l1-uni-padded-f1"


def _timed(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not in run"
    if "failed" in row:
        return "failed"
    if "skipped" in row:
        return "skipped"
    fwd_tflops = row["gflops"] / TRAINING_FACTOR / 1e3
    return f"{row['median_s'] * 1e3:.2f} ms, {fwd_tflops:.2f}"


def table(run: dict[str, Any]) -> str:
    """The Markdown table of ``run`` (a ``gpu`` preset run file's document)."""
    rows = _rows(run)
    gpu = run.get("rnnref", {}).get("gpu") or "no GPU"
    head = [
        "shape (training, i = h)",
        *(f"cuDNN {label}: ms, fwd TFLOP/s" for _, label in NUMERICS),
        "DeepBench best: ms, fwd TFLOP/s (GPU)",
        "torch CPU ms",
        "speedup over CPU fp32 / TF32 / fp16",
    ]
    partial = " (partial run: the rows it finished)" if run.get("partial") else ""
    lines = [f"GPU: {gpu}{partial}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell, hidden, batch, seq_len in GPU_DEEPBENCH:
        found = {b: rows.get(_case_id(cell, b, hidden, batch, seq_len)) for b, _ in NUMERICS}
        cpu = rows.get(_case_id(cell, "torch", hidden, batch, seq_len))
        best = DEEPBENCH_BEST.get((cell, hidden, batch, seq_len))
        speedups = [
            f"{cpu['median_s'] / row['median_s']:.1f}x"
            if row and cpu and "median_s" in row and "median_s" in cpu
            else "-"
            for row in found.values()
        ]
        cells = [
            f"{cell} h{hidden} b{batch} t{seq_len}",
            *(_timed(row) for row in found.values()),
            f"{best[0]:.2f} ms, {best[1]:.2f} ({best[2]})" if best else "not in its README",
            f"{cpu['median_s'] * 1e3:.1f}" if cpu and "median_s" in cpu else _timed(cpu),
            " / ".join(speedups),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"DeepBench: {DEEPBENCH_README} (cuDNN 5-7 era; input GEMM excluded there)."]
    return "\n".join(lines) + "\n"


def _table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("table",), help="the one action: print the table")
    parser.add_argument(
        "run", type=pathlib.Path, metavar="RUN", help="run file (.json) or partial file (.jsonl)"
    )


def _table(args: argparse.Namespace) -> int:
    run = load_run(args.run)
    if run["rnnref"].get("preset") != "gpu":
        raise CommandError(f"{args.run} is not a gpu preset run file")
    sys.stdout.write(table(run))
    return 0


TABLE = Command(
    "table",
    "the README's GPU table from a gpu preset run file",
    _table_arguments,
    _table,
    extra="reports",
)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.gpu_check table RUN``; returns the exit code."""
    return standalone(TABLE, "python -m bench.gpu_check", argv)


if __name__ == "__main__":
    sys.exit(main())
