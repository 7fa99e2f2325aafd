"""What the diagnosis of each corpus model costs, in forward+backward passes of that model.

Issue 22's benchmark (not a timed test): DESIGN.md's budget of 10 passes holds
for every model of the corpora, each measured against its own pass. The method
is :mod:`diagnostics.evaluation.cost`'s: a pass and a diagnosis timed alternately,
``rounds`` times each, each timed pass after an untimed one, the ratio of the
medians. Every timed call gets a freshly built model (built untimed), since
some corpus models keep their state between calls and can run backward once.
The pass is ``model(x)`` and the backward of a fixed random projection of its
first floating-point output, as the diagnosis's default objective.

``report("public")`` prints one line per model and the minimum, median and
maximum ratio, and the worst model by name; a model whose diagnosis fails is
named with the reason and left out.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from diagnostics.evaluation.corpus import CorpusCase
from diagnostics.evaluation.corpus_public import public_corpus
from diagnostics.evaluation.corpus_wild import wild_corpus
from diagnostics.pipeline import diagnose
from usermodel.calling import run_model, select_output
from usermodel.errors import UsageError

PARTS: dict[str, Callable[[], list[CorpusCase]]] = {"wild": wild_corpus, "public": public_corpus}


def case_cost(case: CorpusCase, rounds: int = 3) -> dict:
    """Median seconds of one forward+backward of ``case``'s model and of its diagnosis
    (with the case's --steps, --lr, --loss and target), and their ratio."""
    model, x = case.build()[:2]
    shape = select_output(run_model(model, x))[0].shape
    weights = torch.randn(shape, generator=torch.Generator().manual_seed(0))

    def train_pass() -> float:
        model, x = case.build()[:2]
        start = time.perf_counter()
        output = select_output(run_model(model, x))[0]
        (output * weights.to(output.dtype)).sum().backward()
        return time.perf_counter() - start

    def diagnosis() -> float:
        model, x, target = (*case.build(), None)[:3]
        start = time.perf_counter()
        diagnose(model, x, seed=0, target=target, loss_kind=case.loss, steps=case.steps, lr=case.lr)
        return time.perf_counter() - start

    train_pass()  # warm-up: allocator, oneDNN primitives
    diagnosis()
    passes, diagnoses = [], []
    for _ in range(rounds):
        train_pass()  # untimed, as in diagnostics.evaluation.cost
        passes.append(train_pass())
        diagnoses.append(diagnosis())
    pass_s, diag_s = statistics.median(passes), statistics.median(diagnoses)
    return {"name": case.name, "pass_s": pass_s, "diagnosis_s": diag_s, "ratio": diag_s / pass_s}


def report(part: str = "public", rounds: int = 3) -> list[dict]:
    """Print the pass ratio of every model of ``part`` ("wild" or "public") whose
    diagnosis runs (the others: one line saying why), then the minimum, median and
    maximum and the worst model; return the rows measured."""
    rows = []
    for case in PARTS[part]():
        try:
            row = case_cost(case, rounds)
        except UsageError as exc:
            print(f"{case.name:<45} not measured: {exc}")
            continue
        rows.append(row)
        print(
            f"{row['name']:<45} pass {row['pass_s'] * 1e3:8.1f} ms  "
            f"diagnosis {row['diagnosis_s'] * 1e3:8.1f} ms  = {row['ratio']:6.2f} passes"
        )
    ratios = [row["ratio"] for row in rows]
    worst = max(rows, key=lambda row: row["ratio"])
    print(
        f"{len(rows)} models, {torch.get_num_threads()} threads, median of {rounds} rounds: "
        f"min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
        f"max {max(ratios):.2f} passes ({worst['name']})"
    )
    return rows
