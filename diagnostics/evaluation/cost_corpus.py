"""What the diagnosis of each corpus model costs, in forward+backward passes of that model.

A benchmark, not a timed test: DESIGN.md's budget of 10 passes holds
for every model of the corpora, each measured against its own pass. The method
is :mod:`diagnostics.evaluation.cost`'s: a pass and a diagnosis timed alternately
by the suite's timer (:mod:`usermodel.timing`), ``rounds`` times each, each timed
pass after an untimed one, the ratio of the medians. Every timed call gets a freshly
built model (built untimed: the timer's ``setup``), since some corpus models keep their
state between calls and can run backward once.
The pass is ``model(x)`` and the backward of a fixed random projection of its
first floating-point output, as the diagnosis's default objective.

``report("public")`` prints one line per model and the minimum, median and
maximum ratio, and the worst model by name; a model whose diagnosis fails is
named with the reason and left out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from diagnostics.evaluation.corpus import CorpusCase
from diagnostics.evaluation.corpus_public import public_corpus
from diagnostics.evaluation.corpus_wild import wild_corpus
from diagnostics.evaluation.cost import BUDGET_PASSES
from diagnostics.pipeline import diagnose
from usermodel.calling import run_model, select_output
from usermodel.errors import UsageError
from usermodel.timing import Timed, time_passes, warm_up

PARTS: dict[str, Callable[[], list[CorpusCase]]] = {"wild": wild_corpus, "public": public_corpus}


def case_cost(case: CorpusCase, rounds: int = 3) -> dict:
    """Median seconds of one forward+backward of ``case``'s model and of its diagnosis
    (with the case's --steps, --lr, --loss and target), and their ratio."""
    model, x = case.build()[:2]
    shape = select_output(run_model(model, x))[0].shape
    weights = torch.randn(shape, generator=torch.Generator().manual_seed(0))

    def fresh() -> tuple:
        """A freshly built model, its input and target (None when the case has none)."""
        return (*case.build(), None)[:3]

    def train_pass(model: torch.nn.Module, x: torch.Tensor, _target: object) -> None:
        output = select_output(run_model(model, x))[0]
        (output * weights.to(output.dtype)).sum().backward()

    def diagnosis(model: torch.nn.Module, x: torch.Tensor, target: object) -> None:
        diagnose(model, x, seed=0, target=target, loss_kind=case.loss, steps=case.steps, lr=case.lr)

    warm_up(lambda: train_pass(*fresh()), min_calls=1, seconds=0.0)  # allocator, oneDNN
    warm_up(lambda: diagnosis(*fresh()), min_calls=1, seconds=0.0)
    rows = {  # the untimed pass as in diagnostics.evaluation.cost
        "pass": Timed(train_pass, "torch", untimed=1, setup=fresh),
        "diagnosis": Timed(diagnosis, "NumPy's BLAS", setup=fresh),
    }
    timings = time_passes(rows, rounds)
    passes, diagnoses = timings["pass"], timings["diagnosis"]
    pass_s, diag_s = statistics.median(passes), statistics.median(diagnoses)
    return {"name": case.name, "pass_s": pass_s, "diagnosis_s": diag_s, "ratio": diag_s / pass_s}


TINY_DIAGNOSIS_S = 1.0
"""A diagnosis this short meets DESIGN.md's budget whatever its ratio (a tiny model's pass
takes milliseconds; the diagnosis has a fixed part: the replay's set-up, the findings)."""


def over_budget(row: dict) -> bool:
    """Whether a model's diagnosis misses DESIGN.md's budget: more than BUDGET_PASSES of its
    own passes, and longer than TINY_DIAGNOSIS_S."""
    return row["ratio"] > BUDGET_PASSES and row["diagnosis_s"] > TINY_DIAGNOSIS_S


def report(part: str = "public", rounds: int = 3) -> list[dict]:
    """Print the pass ratio of every model of ``part`` ("wild" or "public") whose
    diagnosis runs (the others: one line saying why), then the minimum, median and
    maximum and the worst model, and those over budget (:func:`over_budget`); return the
    rows measured."""
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
    over = [row["name"] for row in rows if over_budget(row)]
    print(
        f"over budget ({BUDGET_PASSES} passes and {TINY_DIAGNOSIS_S:g} s): "
        + (", ".join(over) if over else "none")
    )
    return rows
