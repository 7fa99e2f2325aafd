"""Is the NumPy reference a fair contender? rnnref against torch eager CPU, side by side in one run.

    python -m bench.reference_speed [--cells lstm,gru,rnn_tanh] [--batches 1,16,64]
                                    [--rounds 15] [--threads N] [--json FILE] [--check]

Shape: seq 100, input and hidden 256, float32 (DESIGN.md's quality bar). Each
round (a pass of the suite's timer, :mod:`usermodel.timing`) times, in turn, one call
of every contender (after an untimed call, and a pause where the library changes,
that let the other library's spinning threads settle); the ratio rnnref / torch is
taken within the round, and the median over rounds is reported, so that load
from elsewhere on a shared machine hits both sides of a ratio alike.

- forward: rnnref forward against torch under ``no_grad``, with oneDNN on
  (torch's default) and off (``torch.backends.mkldnn.flags(enabled=False)``);
- training step: forward then backward from a fixed upstream gradient; the
  torch input requires grad, since rnnref's backward always returns dL/dx;
- peak memory of one training step, each in a fresh process: the peak resident
  set (VmHWM, reset through /proc/self/clear_refs after a warm-up step) above
  the resident set just before the step, with glibc's mmap threshold fixed so
  freed buffers go back to the system.

The bar (``--check`` exits 1 when a batch-64 row misses it): forward at most 2x
torch, faster than torch without oneDNN, training at most 2.5x, memory at most 2x.
"""

from __future__ import annotations

import os
import statistics
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

import rnnref
from bench.record import write_json
from rnnref_cli.command import CommandError, standalone
from usermodel.timing import Timed, time_passes

SEQ_LEN, INPUT_SIZE, HIDDEN_SIZE = 100, 256, 256
BAR_CELLS = ("lstm", "gru", "rnn_tanh")
"""The cells DESIGN.md's speed bar names (their torch classes: rnnref.CELL_TYPES)."""
BAR = {"forward": 2.0, "forward_no_onednn": 1.0, "training": 2.5, "memory": 2.0}
"""DESIGN.md's bar for the reference: largest rnnref / torch ratio of the medians (strictly
below for ``forward_no_onednn``)."""

MATRIX_BAR = {
    "shape": {
        "batch": 64,
        "seq_len": SEQ_LEN,
        "input_size": INPUT_SIZE,
        "hidden_size": HIDDEN_SIZE,
        "num_layers": 1,
        "bidirectional": False,
        "layout": "padded",
        "fill": 1.0,
    },
    "limits": [
        {"mode": "inference", "contender": "torch", "limit": BAR["forward"]},
        {"mode": "training", "contender": "torch", "limit": BAR["training"]},
        {"mode": "inference", "contender": "torch-no-onednn", "limit": BAR["forward_no_onednn"]},
    ],
}
"""The same bar as a matrix run checks it on its own rows (the ``numpy`` backend against
``torch`` and ``torch-no-onednn`` at the reference shape): every run file carries it
(``rnnref.reference_bar``) and the bench report reads it there."""


@dataclass
class Row:
    """Medians of the per-round ratios rnnref / torch, and the absolute medians behind them."""

    cell: str
    batch: int
    forward: float
    forward_no_onednn: float
    training: float
    memory: float | None
    numpy_forward_ms: float
    torch_forward_ms: float
    numpy_training_ms: float
    torch_training_ms: float
    numpy_peak_mb: float | None
    torch_peak_mb: float | None


def build_pair(cell: str, batch: int) -> tuple[torch.nn.RNNBase, rnnref.RNNBase, np.ndarray]:
    """A seeded torch layer, the rnnref layer with its weights, and an input (T, B, I) float32."""
    record = rnnref.cell_type(cell)
    torch.manual_seed(0)
    module = getattr(torch.nn, record.torch_layer)(INPUT_SIZE, HIDDEN_SIZE, **record.torch_kwargs())
    x = np.random.default_rng(0).standard_normal((SEQ_LEN, batch, INPUT_SIZE), dtype=np.float32)
    return module, rnnref.from_torch(module), x


def contenders(cell: str, batch: int) -> dict[str, Callable[[], object]]:
    """Name -> a zero-argument call doing one unit of work."""
    module, model, x = build_pair(cell, batch)
    x_torch = torch.from_numpy(x)
    grad_out = np.full((SEQ_LEN, batch, HIDDEN_SIZE), 1e-3, np.float32)
    grad_out_torch = torch.from_numpy(grad_out)

    def torch_forward() -> object:
        with torch.no_grad():
            return module(x_torch)

    def torch_forward_no_onednn() -> object:
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            return module(x_torch)

    def torch_training() -> None:
        out, _ = module(x_torch.detach().requires_grad_())
        out.backward(grad_out_torch)

    def numpy_training() -> object:
        model(x)
        return model.backward(grad_out)

    return {  # each library's calls together: paired_times pauses between the two
        "numpy_forward": lambda: model(x),
        "numpy_training": numpy_training,
        "torch_forward": torch_forward,
        "torch_forward_no_onednn": torch_forward_no_onednn,
        "torch_training": torch_training,
    }


def paired_times(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call, ``rounds`` interleaved rounds after one warm-up round: the suite's
    timer (:func:`usermodel.timing.time_passes`), one pass per round, one timed call of
    each contender per pass.

    Right after a switch of library the other one's thread pool (OpenBLAS, OpenMP) is
    still spinning on the cores and would slow the first calls down: the timer pauses
    :data:`usermodel.timing.SETTLE_S` where the library (the name's first word) changes,
    and each contender's timed call follows an untimed one.
    """
    rows = {name: Timed(call, name.split("_")[0], untimed=1) for name, call in calls.items()}
    times = time_passes(rows, rounds + 1)
    return {name: seconds[1:] for name, seconds in times.items()}


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def training_step_peak_mb(backend: str, cell: str, batch: int, threads: int) -> float | None:
    """Peak MB above the starting resident set during one training step (run in a fresh process)."""
    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    calls = contenders(cell, batch)
    step = calls[f"{backend}_training"]
    step()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _status_kb("VmRSS")
    step()
    return (_status_kb("VmHWM") - before) / 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def measure_memory(cell: str, batch: int, threads: int) -> dict[str, float | None]:
    """Peak training-step memory of both backends, each in a process of its own."""
    previous = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    try:
        peaks = {}
        for backend in ("numpy", "torch"):
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                peaks[backend] = pool.submit(
                    training_step_peak_mb, backend, cell, batch, threads
                ).result()
        return peaks
    finally:
        if previous is None:
            del os.environ["MALLOC_MMAP_THRESHOLD_"]
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = previous


def measure(cell: str, batch: int, rounds: int, threads: int, memory: bool = True) -> Row:
    """One row of the table: paired timing ratios and (optionally) peak memory."""
    times = paired_times(contenders(cell, batch), rounds)
    peaks = measure_memory(cell, batch, threads) if memory else {"numpy": None, "torch": None}
    numpy_mb, torch_mb = peaks["numpy"], peaks["torch"]

    def ms(name: str) -> float:
        return statistics.median(times[name]) * 1e3

    return Row(
        cell=cell,
        batch=batch,
        forward=median_ratio(times["numpy_forward"], times["torch_forward"]),
        forward_no_onednn=median_ratio(times["numpy_forward"], times["torch_forward_no_onednn"]),
        training=median_ratio(times["numpy_training"], times["torch_training"]),
        memory=numpy_mb / torch_mb if numpy_mb is not None and torch_mb else None,
        numpy_forward_ms=ms("numpy_forward"),
        torch_forward_ms=ms("torch_forward"),
        numpy_training_ms=ms("numpy_training"),
        torch_training_ms=ms("torch_training"),
        numpy_peak_mb=numpy_mb,
        torch_peak_mb=torch_mb,
    )


def measure_all(
    cells: list[str], batches: list[int], rounds: int, threads: int, memory: bool = True
) -> list[Row]:
    """One row per cell and batch, torch and the BLAS pinned to ``threads`` threads."""
    torch.set_num_threads(threads)
    rows = []
    with threadpoolctl.threadpool_limits(threads), warnings.catch_warnings():
        # mkldnn.flags(enabled=False) warns that TF32 on oneDNN needs an Intel GPU
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        for cell in cells:
            for batch in batches:
                print(f"measuring {cell} batch {batch} ...", file=sys.stderr, flush=True)
                rows.append(measure(cell, batch, rounds, threads, memory))
    return rows


def summary(rows: list[Row], rounds: int, threads: int) -> str:
    """The table with its heading, and one line per part of the bar a row misses."""
    lines = [
        f"rnnref / torch, medians of {rounds} paired rounds; seq {SEQ_LEN}, input and hidden "
        f"{INPUT_SIZE}, float32, {threads} threads (torch {torch.__version__}, numpy "
        f"{np.__version__})",
        format_table(rows),
    ]
    lines += [
        f"MISSES THE BAR: {row.cell} batch {row.batch}: {m}" for row in rows for m in misses(row)
    ]
    return "\n".join(lines)


def write_rows(path: Path, rows: list[Row]) -> None:
    """The rows as a JSON list of objects (the table's columns by name)."""
    write_json(path, [asdict(row) for row in rows])


def misses(row: Row) -> list[str]:
    """The parts of the bar this row misses (the bar applies at batch 64)."""
    if row.batch != 64:
        return []
    missed = [
        f"{name} {getattr(row, name):.2f} > {limit}"
        for name, limit in BAR.items()
        if name != "forward_no_onednn" and getattr(row, name) is not None
        if getattr(row, name) > limit
    ]
    if row.forward_no_onednn >= BAR["forward_no_onednn"]:
        missed.append(f"forward_no_onednn {row.forward_no_onednn:.2f} >= 1")
    return missed


def format_table(rows: list[Row]) -> str:
    header = (
        f"{'cell':9} {'batch':>5} {'fwd/torch':>10} {'fwd/no-dnn':>10} {'train/torch':>11} "
        f"{'mem/torch':>9}   {'numpy fwd':>9} {'torch fwd':>9} {'numpy train':>11} "
        f"{'torch train':>11} {'numpy MB':>8} {'torch MB':>8}"
    )
    lines = [header]
    for r in rows:
        memory = f"{r.memory:9.2f}" if r.memory is not None else f"{'n/a':>9}"
        numpy_mb = f"{r.numpy_peak_mb:8.1f}" if r.numpy_peak_mb is not None else f"{'n/a':>8}"
        torch_mb = f"{r.torch_peak_mb:8.1f}" if r.torch_peak_mb is not None else f"{'n/a':>8}"
        lines.append(
            f"{r.cell:9} {r.batch:5d} {r.forward:10.2f} {r.forward_no_onednn:10.2f} "
            f"{r.training:11.2f} {memory}   {r.numpy_forward_ms:7.1f}ms "
            f"{r.torch_forward_ms:7.1f}ms {r.numpy_training_ms:9.1f}ms "
            f"{r.torch_training_ms:9.1f}ms {numpy_mb} {torch_mb}"
        )
    return "\n".join(lines)


def unknown_cells(cells: list[str]) -> list[str]:
    """The names in ``cells`` that are not a cell this measurement knows."""
    return [cell for cell in cells if cell not in BAR_CELLS]


def report(
    cells: list[str] | None,
    batches: list[int],
    rounds: int,
    threads: int,
    memory: bool,
    json_path: Path | None,
    check: bool,
) -> int:
    """Measure, print the table, write ``json_path``; 1 when ``check`` and a batch-64 row
    misses the bar, else 0 (CommandError when the JSON file cannot be written)."""
    rows = measure_all(cells or list(BAR_CELLS), batches, rounds, threads, memory)
    print(summary(rows, rounds, threads))
    if json_path:
        try:
            write_rows(json_path, rows)
        except OSError as error:
            raise CommandError(f"cannot write {json_path}: {error.strerror}") from None
    return 1 if check and any(misses(row) for row in rows) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.reference_speed``; returns the exit code."""
    from bench.cli import REFERENCE_SPEED

    return standalone(REFERENCE_SPEED, "python -m bench.reference_speed", argv)


if __name__ == "__main__":
    sys.exit(main())
