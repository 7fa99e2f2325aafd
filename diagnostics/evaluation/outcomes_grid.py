"""The outcome part's grid of training runs, and ``--train``: run it, write the file.

The grid is not a full product of cells and initialisations: each (cell, init) in
CONFIGS is there because its outcome is known in advance from the literature or
because it is the healthy control of its cell (``why``); each runs on both tasks at a
short length, one a few default horizons long, and one well past a plain RNN's
(a default-initialised tanh RNN keeps a horizon of 10-12 steps:
each cell type's ``healthy_horizon`` in :mod:`rnnref.cells`), with SEEDS seeds.

:func:`train_grid` trains every run (2 processes, one thread each), prints an
estimate first and progress as it goes, and writes the outcome file:
``{"schema", "date", "machine", "command", "cpu_s", "wall_s", "recipe", "grid",
"learned_fraction", "baseline_loss", "runs": [...]}`` (a run: :func:`~diagnostics.
evaluation.outcomes_train.train_run`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import multiprocessing
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from diagnostics.evaluation.outcomes_tasks import (
    BASELINE_LOSS,
    HIDDEN,
    LEARNED_FRACTION,
    RECIPE,
    Recipe,
)

SCHEMA = "rnnref-outcomes/1"

OUTCOMES_FILE = pathlib.Path(__file__).with_name("outcomes.json")
"""The committed outcome file ``evaluate --part outcomes`` reads."""

CONFIGS: tuple[tuple[str, str, str], ...] = (
    ("rnn_tanh", "default", "plain RNN: learns short dependencies, not past its horizon"),
    ("rnn_tanh", "shrunk-w_hh", "W_hh x 0.1: vanishing guaranteed (Pascanu et al. 2013)"),
    ("rnn_tanh", "grown-w_hh", "orthogonal W_hh x 3: exploding or saturated state"),
    ("rnn_tanh", "saturating-input", "W_ih x 30: tanh units saturate"),
    ("rnn_relu", "default", "ReLU RNN at torch's init: the IRNN paper's weak baseline"),
    ("rnn_relu", "identity", "IRNN (Le et al. 2015): learns the adding problem"),
    ("rnn_relu", "grown-w_hh", "orthogonal W_hh x 3: exploding (no saturation to stop it)"),
    ("lstm", "default", "healthy control"),
    ("lstm", "forget-bias+1", "the recommended forget bias (Jozefowicz et al. 2015)"),
    ("lstm", "forget-bias-4", "forget gate closed: the memory fades at once"),
    ("lstm", "saturating-input", "W_ih x 30: gates saturate"),
    ("gru", "default", "healthy control"),
)
"""(cell, initialisation, why it is in the grid). Left out: shrunk W_hh of an LSTM (its
memory is the forget gate's, which forget-bias-4 closes), identity and forget biases on
cells they do not apply to, grown W_hh of gated cells (their gates saturate first),
shrunk W_hh of a GRU (its update gate carries the state past it; and a GRU run costs
three of an LSTM's on this CPU)."""

LENGTHS = {"adding": (10, 30, 90), "recall": (5, 15, 45)}
"""Sequence lengths per task: within a plain RNN's horizon, a few horizons, well past it."""

SEEDS = (0, 1, 2)

JOBS = 2
"""Training processes at once (one thread each)."""

STEP_CPU_S = {"rnn_tanh": 3e-5, "rnn_relu": 3e-5, "lstm": 4e-5, "gru": 1.5e-4}
"""CPU seconds per training step and sequence step (batch 32, hidden 32), measured on the
2-core development machine, for the estimate printed before training."""

RUN_OVERHEAD_S = 1.5
"""CPU seconds per run besides training (diagnosis, watched steps, report), the same."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One cell of the grid."""

    task: str
    cell: str
    init: str
    length: int
    seed: int


def grid_runs() -> list[Run]:
    """Every run of the grid, longest first (so the 2 processes finish together)."""
    runs = [
        Run(task, cell, init, length, seed)
        for cell, init, _ in CONFIGS
        for task, lengths in LENGTHS.items()
        for length in lengths
        for seed in SEEDS
    ]
    return sorted(runs, key=lambda r: -estimate_cpu_s(r, RECIPE))


def estimate_cpu_s(run: Run, recipe: Recipe) -> float:
    """The CPU seconds ``run`` should take (STEP_CPU_S, RUN_OVERHEAD_S)."""
    return RUN_OVERHEAD_S + STEP_CPU_S[run.cell] * run.length * recipe.steps


def machine() -> str:
    """The CPU's model name as ``lscpu`` gives it (else what Python's platform knows)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line]
    return names[0] if names else platform.machine()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _train(run: Run, recipe: Recipe) -> dict[str, Any]:
    from diagnostics.evaluation.outcomes_train import train_run

    return train_run(run.task, run.cell, run.init, run.length, run.seed, recipe)


def train_grid(
    path: pathlib.Path,
    runs: Iterable[Run] | None = None,
    recipe: Recipe = RECIPE,
    jobs: int = JOBS,
    command: str = "python -m diagnostics evaluate --part outcomes --train",
) -> dict[str, Any]:
    """Train ``runs`` (default: the whole grid) in ``jobs`` processes and write the outcome
    file to ``path``; print the estimate first and one line per finished run (stderr)."""
    runs = list(grid_runs() if runs is None else runs)
    estimate = sum(estimate_cpu_s(r, recipe) for r in runs)
    print(
        f"training {len(runs)} runs, about {_duration(estimate)} of CPU "
        f"({_duration(estimate / jobs)} with {jobs} process{'es' if jobs > 1 else ''} "
        "on an idle machine, longer on a busy one)",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, context, _worker_init) as pool:
        futures = [pool.submit(_train, run, recipe) for run in runs]
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            record = future.result()
            records.append(record)
            elapsed = time.perf_counter() - start
            print(
                f"{done}/{len(runs)} {record['task']} {record['cell']} {record['init']} "
                f"T={record['length']} seed {record['seed']}: "
                f"{'learned' if record['learned'] else 'not learned'} "
                f"({record['cpu_s']:.1f} s CPU; {elapsed / 60:.1f} min so far)",
                file=sys.stderr,
                flush=True,
            )
    order = {dataclasses.astuple(r): i for i, r in enumerate(grid_runs())}
    records.sort(
        key=lambda r: order.get((r["task"], r["cell"], r["init"], r["length"], r["seed"]), -1)
    )
    doc = {
        "schema": SCHEMA,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": command,
        "cpu_s": round(sum(r["cpu_s"] for r in records), 1),
        "wall_s": round(time.perf_counter() - start, 1),
        "jobs": jobs,
        "recipe": dataclasses.asdict(recipe),
        "hidden": HIDDEN,
        "grid": {
            "configs": [{"cell": c, "init": i, "why": w} for c, i, w in CONFIGS],
            "lengths": LENGTHS,
            "seeds": list(SEEDS),
        },
        "learned_fraction": LEARNED_FRACTION,
        "baseline_loss": BASELINE_LOSS,
        "runs": records,
    }
    path.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    return doc
