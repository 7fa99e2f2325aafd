"""One run of the outcome part: the diagnosis at initialisation, a watched first tenth,
the rest of the budget unwatched, and the outcome.

:func:`train_run` returns everything the tables need, so that ``python -m diagnostics
evaluate --part outcomes`` reads them from the committed file without training:

- ``init_probes``: the probe document of ``diagnostics.diagnose`` on the model at
  initialisation and one batch of the task with the task's loss (modules and probes,
  from which :func:`diagnostics.rules.evaluate` gives the findings again at evaluate
  time, so a rule or threshold changed later is scored without training again), less
  the per-step curves (CURVES) that only the report draws;
- ``watched``: the findings of ``diagnostics.watch`` over the first tenth of the budget
  (its history of horizons, saturation and gradient norms included): the monitor
  merges findings over its sampled steps, which cannot be redone from stored numbers
  without storing every sampled step's probes, so these are the rules as they were
  at ``--train`` time;
- ``init_grad_norm``: the global gradient norm of the first training step before
  clipping (what a histogram logger shows at step 0);
- ``final_loss``: the loss on a held-out batch after the last step.
"""

from __future__ import annotations

import math
import tempfile
import time
from typing import Any

import torch

from diagnostics.evaluation.outcomes_tasks import (
    BASELINE_LOSS,
    LEARNED_FRACTION,
    TASKS,
    Recipe,
    build,
    data_generator,
    task_loss,
)
from diagnostics.monitor import Monitor
from diagnostics.pipeline import diagnose

WATCH_SAMPLES = 4
"""Sampled steps of the watched tenth (``every`` = a quarter of it: steps 0, 1/4, 1/2, 3/4)."""

INIT_PROBE_BATCH = 32
"""Sequences in the batch the diagnosis at initialisation sees."""


CURVES = ("states_norm", "grad_states_norm", "grad_cells_norm", "end_curve", "end_cell_curve")
"""Per-step curves of a probe record (length T each) that no rule reads: not stored."""


def rule_inputs(doc: dict[str, Any]) -> dict[str, Any]:
    """What :func:`diagnostics.rules.evaluate` reads of a findings document: its modules and
    probes, each recurrent record without CURVES."""
    probes = dict(doc["probes"])
    probes["recurrent"] = [
        {key: value for key, value in record.items() if key not in CURVES}
        for record in probes["recurrent"]
    ]
    return {"modules": doc["modules"], "probes": probes}


def _compact(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings without their evidence and advice: code, severity, module, summary."""
    return [{key: f[key] for key in ("code", "severity", "module", "summary")} for f in findings]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def train_run(
    task: str, cell: str, init: str, length: int, seed: int, recipe: Recipe
) -> dict[str, Any]:
    """Diagnose, watch and train one model; the run's record (module docstring).

    The run is single-threaded (the caller sets ``torch.set_num_threads(1)``) and seeded:
    the model by ``seed``, the training batches, the held-out batch and the diagnosis's
    batch by their own generators (:func:`~diagnostics.evaluation.outcomes_tasks.data_generator`).
    """
    start = time.process_time()
    make = TASKS[task][2]
    model = build(task, cell, init, seed)
    x0, y0 = make(INIT_PROBE_BATCH, length, data_generator(seed, 2))
    doc = diagnose(
        model,
        x0,
        loss_fn=lambda out: task_loss(task, out, y0),
        target_label=f"{task}-{cell}-{init}-T{length}-s{seed}",
        input_label=f"a {task} batch",
        seed=seed,
    )
    model.zero_grad(set_to_none=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    batches = data_generator(seed, 0)
    every = max(recipe.watched_steps // WATCH_SAMPLES, 1)
    grad_norms: list[float] = []
    # The watched run's report.html is read by no one here and costs 2 s of a run's 5.
    with tempfile.TemporaryDirectory() as log_dir:
        monitor = Monitor(model, log_dir=log_dir, every=every, seed=seed, report=False)
        for step in range(recipe.steps):
            x, y = make(recipe.batch, length, batches)
            loss = task_loss(task, model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if step < recipe.watched_steps:
                monitor.step(loss)
            if step == recipe.watched_steps - 1:
                watched = monitor.close()
            norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip))
            grad_norms.append(norm)
            optimizer.step()
    x_eval, y_eval = make(recipe.eval_batch, length, data_generator(seed, 1))
    with torch.no_grad():
        final = float(task_loss(task, model(x_eval), y_eval))
    ratio = final / BASELINE_LOSS[task]
    return {
        "task": task,
        "cell": cell,
        "init": init,
        "length": length,
        "seed": seed,
        "final_loss": _finite(final),
        "loss_ratio": _finite(ratio),
        "learned": math.isfinite(ratio) and ratio < LEARNED_FRACTION,
        "init_grad_norm": _finite(grad_norms[0]),
        "max_grad_norm": _finite(max(grad_norms)),
        "init_probes": rule_inputs(doc),
        "init_findings": _compact(doc["findings"]),
        "watched": {
            "findings": _compact(watched["findings"]),
            "history": watched["probes"]["watch"]["history"],
            "sampled_steps": watched["probes"]["watch"]["sampled_steps"],
        },
        "cpu_s": round(time.process_time() - start, 2),
    }
