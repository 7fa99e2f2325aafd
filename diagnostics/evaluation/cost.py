"""``python -m diagnostics cost``: what a diagnosis costs, in forward+backward passes of the model.

DESIGN.md's budget: diagnosing a 2-layer LSTM (hidden 256, 200 steps, batch 32)
costs at most 10 forward+backward passes of that model. Both are timed side by
side in one run, alternating, ``--rounds`` times each (each timed pass after an
untimed one), by the suite's timer (:mod:`usermodel.timing`); the ratio is of the
medians. The diagnosis is
:func:`diagnostics.diagnose` (probe pass, rnnref replays, every probe and
rule); writing the report and TensorBoard files is timed separately, as it
does not grow with the model.

``--watch`` measures :func:`diagnostics.watch` instead (DESIGN.md's watch budget): the
same model trained with Adam on a fixed batch, a watched copy (``--every``)
and an unwatched copy stepping alternately, each step timed; the unsampled
steps of the watched loop against the unwatched steps (ratio of medians,
budget 1.05), and a sampled step in unwatched training steps (budget SAMPLED_STEP_BUDGET).
"""

from __future__ import annotations

import pathlib
import statistics
import tempfile

import torch
from torch import nn

from diagnostics.monitor import watch
from diagnostics.pipeline import diagnose
from diagnostics.tboard import write_tensorboard
from reports.diagnose_report import write_diagnose_report
from reports.findingsfile import dump_findings
from usermodel.timing import Timed, time_passes, warm_up

BUDGET_PASSES = 10
"""Most forward+backward passes of a model its diagnosis may take (DESIGN.md's quality bar)."""

SAMPLED_STEP_BUDGET = 3.5
"""Most unwatched training steps a sampled step of ``--watch`` may take (DESIGN.md's quality
bar: with every=50 the watched run costs at most 5% more, (49 + 3.5) / 50 = 1.05)."""


class TwoLayerLSTM(nn.Module):
    """nn.LSTM(256, 256, num_layers=2, batch_first=True) and a linear head on every step."""

    def __init__(self, size: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(size, size, num_layers=2, batch_first=True)
        self.head = nn.Linear(size, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, 256) -> (B, T, 10)."""
        return self.head(self.lstm(x)[0])


def measure(rounds: int = 5, batch: int = 32, steps: int = 200, size: int = 256) -> dict:
    """Median seconds of one forward+backward, of one diagnosis, of writing its outputs.

    Timed by the suite's timer (:func:`usermodel.timing.time_passes`), one pass per
    round: the pass (after an untimed one: NumPy's BLAS threads, still spinning after
    the diagnosis, would slow it and flatter the ratio), the diagnosis, the writing.
    ``timings`` holds the ``rounds`` seconds of each (``forward_backward``,
    ``diagnosis``, ``outputs``) in the order they were timed; the medians and the ratio
    are of those.
    """
    torch.manual_seed(0)
    model = TwoLayerLSTM(size)
    x = torch.randn(batch, steps, size)
    weights = torch.randn(batch, steps, 10)

    def train_pass() -> None:
        model.zero_grad(set_to_none=True)
        (model(x) * weights).sum().backward()

    doc: dict = {}

    def diagnosis() -> None:
        doc.update(diagnose(model, x, target_label="cost", input_label="cost"))

    warm_up(train_pass, min_calls=1, seconds=0.0)  # allocator, oneDNN primitives
    warm_up(diagnosis, min_calls=1, seconds=0.0)
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder)

        def write() -> None:
            dump_findings(doc, out / "findings.json")
            write_tensorboard(doc, out / "tensorboard")
            write_diagnose_report(out / "findings.json", out / "report.html")

        rows = {
            "forward_backward": Timed(train_pass, "torch", untimed=1),
            "diagnosis": Timed(diagnosis, "NumPy's BLAS"),
            "outputs": Timed(write, "files"),
        }
        timings = time_passes(rows, rounds)
    pass_s, diag_s = (
        statistics.median(timings["forward_backward"]),
        statistics.median(timings["diagnosis"]),
    )
    return {
        "shape": f"LSTM 2 layers, hidden {size}, {steps} steps, batch {batch}",
        "threads": torch.get_num_threads(),
        "forward_backward_s": pass_s,
        "diagnosis_s": diag_s,
        "outputs_s": statistics.median(timings["outputs"]),
        "ratio": diag_s / pass_s,
        "timings": timings,
    }


def measure_watch(every: int = 100, samples: int = 3) -> dict:
    """Median seconds of an unwatched step, an unsampled and a sampled watched step."""
    batch, steps, size = 32, 200, 256
    torch.manual_seed(0)
    plain, watched = TwoLayerLSTM(size), TwoLayerLSTM(size)
    watched.load_state_dict(plain.state_dict())
    x = torch.randn(batch, steps, size)
    weights = torch.randn(batch, steps, 10)
    optimizers = {m: torch.optim.Adam(m.parameters(), lr=1e-4) for m in (plain, watched)}

    def train_step(model: nn.Module, monitor: object = None) -> None:
        loss = (model(x) * weights).mean()
        loss.backward()
        if monitor is not None:
            monitor.step(loss)  # type: ignore[attr-defined]
        optimizers[model].step()
        optimizers[model].zero_grad()

    for model in (plain, watched):  # allocator, oneDNN; one Adam step each, both alike
        warm_up(lambda model=model: train_step(model), min_calls=1, seconds=0.0)
    with tempfile.TemporaryDirectory() as folder, watch(watched, folder, every=every) as monitor:
        rows = {
            "unwatched": Timed(lambda: train_step(plain)),
            "watched": Timed(lambda: train_step(watched, monitor)),
        }
        timings = time_passes(rows, every * samples + 1)  # one step each per pass
    unwatched = timings["unwatched"]
    sampled = timings["watched"][::every]
    unsampled = [s for i, s in enumerate(timings["watched"]) if i % every]
    step_s = statistics.median(unwatched)
    return {
        "shape": f"LSTM 2 layers, hidden {size}, {steps} steps, batch {batch}, Adam",
        "threads": torch.get_num_threads(),
        "every": every,
        "steps": len(unwatched),
        "unwatched_s": step_s,
        "unsampled_s": statistics.median(unsampled),
        "sampled_s": statistics.median(sampled),
        "unsampled_ratio": statistics.median(unsampled) / step_s,
        "sampled_steps": statistics.median(sampled) / step_s,
    }


def report(rounds: int = 5, watched: bool = False, every: int = 100, samples: int = 3) -> int:
    """Print the measurement; 1 when it misses its budget (10 passes; ``watched``:
    unsampled steps within 5% and a sampled step within SAMPLED_STEP_BUDGET training
    steps), else 0."""
    if watched:
        w = measure_watch(every, samples)
        print(f"{w['shape']}, {w['threads']} threads, {w['steps']} steps each, alternating:")
        print(f"  unwatched step     {w['unwatched_s'] * 1e3:9.1f} ms")
        print(
            f"  watched, unsampled {w['unsampled_s'] * 1e3:9.1f} ms  = {w['unsampled_ratio']:.3f}x"
        )
        print(
            f"  watched, sampled   {w['sampled_s'] * 1e3:9.1f} ms  = {w['sampled_steps']:.2f} steps"
            f" (every {w['every']})"
        )
        within = w["unsampled_ratio"] <= 1.05 and w["sampled_steps"] <= SAMPLED_STEP_BUDGET
        return 0 if within else 1
    m = measure(rounds)
    print(f"{m['shape']}, {m['threads']} threads, median of {rounds} alternating rounds:")
    print(f"  forward+backward   {m['forward_backward_s'] * 1e3:9.1f} ms")
    print(f"  diagnosis          {m['diagnosis_s'] * 1e3:9.1f} ms  = {m['ratio']:.2f} passes")
    print(f"  writing outputs    {m['outputs_s'] * 1e3:9.1f} ms  (report, TensorBoard, JSON)")
    return 0 if m["ratio"] <= BUDGET_PASSES else 1
