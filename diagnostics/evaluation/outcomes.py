"""Part 4, ``outcomes``: do the diagnosis's verdicts predict what training does?

Every run of the grid (:mod:`~diagnostics.evaluation.outcomes_grid`) was really trained
and labelled *learned* or *not learned* (:data:`~diagnostics.evaluation.outcomes_tasks.
LEARNED_FRACTION`). Each predictor reads a run as "will not learn, because CODES" or
"no objection":

- ``tool at init``: ``diagnostics.diagnose`` on the model at initialisation and a batch
  of the task; the findings are evaluated again here from the stored probes with the
  current rules (:func:`diagnostics.rules.evaluate`);
- ``tool, watched tenth``: the findings of ``diagnostics.watch`` over the first tenth of
  the budget, as stored at ``--train`` time;
- ``length and cell``: a plain (tanh or ReLU) RNN on a sequence longer than
  LENGTH_RULE_STEPS will not learn (vanishing-gradient); nothing else is looked at;
- ``gradient norm at init``: the global gradient norm of the first training step below
  NORM_LOW (vanishing-gradient) or above NORM_HIGH (exploding-gradient);
- ``random at the base rate``: "will not learn" with the probability of not learning,
  as the expected confusion matrix.

The tool's findings are read two ways: ``errors`` (an error finding with a code in
VERDICT_CODES) and ``warnings`` (a warning or an error). The scores: the confusion matrix
against the outcomes, precision and recall of "will not learn", and where the grid
controls the cause (EXPECTED_CAUSE), how often the code given is that cause.
"""

from __future__ import annotations

import json
import pathlib
from collections import Counter
from typing import Any

from diagnostics import rules
from usermodel.errors import UsageError

VERDICT_CODES = (
    "non-finite",
    "exploding-gradient",
    "vanishing-gradient",
    "saturation",
    "dead-units",
    "no-gradient",
    "truncated-gradient",
    "training-divergence",
    "loss-spikes",
    "parameters-not-updated",
    "direction-read-at-one-end",
)
"""Codes whose finding says the model will not learn as it stands (the others say it
will learn slowly, or describe the probe: subnormal-gradient, replay-mismatch, ...)."""

READINGS = {"errors": ("error",), "warnings": ("warning", "error")}
"""A reading of the findings -> the severities that count as "will not learn"."""

LENGTH_RULE_STEPS = 20
"""The length-and-cell baseline: a plain RNN cannot learn dependencies longer than about
10-20 steps (Bengio, Simard and Frasconi 1994; Hochreiter and Schmidhuber 1997, whose
experiments put the limit of BPTT-trained RNNs at 5-10 steps)."""

NORM_LOW, NORM_HIGH = 1e-2, 1e2
"""The gradient-norm baseline's thresholds: two decades either side of 1, the norm the
recipe clips at (a rule a reader of a histogram logger might use; fixed before training)."""

NORM_SEARCH = [10.0 ** (k / 2) for k in range(-12, 13)]
"""Thresholds tried for the gradient-norm baseline fitted in hindsight (1e-6 to 1e6)."""


def expected_cause(run: dict[str, Any]) -> tuple[str, ...]:
    """The codes that name the cause the grid put into ``run``; () where it controls none.

    grown W_hh: exploding-gradient; shrunk W_hh and a closed forget gate: vanishing-gradient
    (a closed gate is also a saturated gate); inputs x 30: saturation; a default plain RNN
    longer than LENGTH_RULE_STEPS (past its 8-12-step horizon): vanishing-gradient.
    """
    init = run["init"]
    if init == "grown-w_hh":
        return ("exploding-gradient",)
    if init == "shrunk-w_hh":
        return ("vanishing-gradient",)
    if init == "forget-bias-4":
        return ("vanishing-gradient", "saturation")
    if init == "saturating-input":
        return ("saturation",)
    if run["cell"].startswith("rnn") and init == "default" and run["length"] > LENGTH_RULE_STEPS:
        return ("vanishing-gradient",)
    return ()


def verdict(findings: list[dict[str, Any]], reading: str) -> list[str]:
    """The codes for which ``findings`` say "will not learn" under ``reading``; [] when none."""
    severities = READINGS[reading]
    return sorted(
        {f["code"] for f in findings if f["severity"] in severities and f["code"] in VERDICT_CODES}
    )


def init_findings(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of the diagnosis at initialisation, by the current rules."""
    stored = run["init_probes"]
    return rules.evaluate(stored["modules"], stored["probes"])


def length_rule(run: dict[str, Any]) -> list[str]:
    """The length-and-cell baseline's verdict."""
    plain = run["cell"].startswith("rnn")
    return ["vanishing-gradient"] if plain and run["length"] > LENGTH_RULE_STEPS else []


def norm_rule(norm: float | None, low: float = NORM_LOW, high: float = NORM_HIGH) -> list[str]:
    """The gradient-norm baseline's verdict on the first step's norm (None: not finite)."""
    if norm is None or norm > high:
        return ["exploding-gradient"]
    return ["vanishing-gradient"] if norm < low else []


def confusion(
    learned: list[bool], predicted: list[list[str]], causes: list[tuple[str, ...]]
) -> dict[str, Any]:
    """Confusion matrix of "will not learn" (non-empty ``predicted``) against the outcomes,
    precision and recall of "will not learn", and the cause scores.

    ``cause_right``: of the runs whose cause the grid controls, that did not learn and
    that the predictor flagged, those whose codes include the cause; ``cause_named``: of
    the controlled runs that did not learn, those flagged with the cause.
    """
    tp = sum(not ok and bool(p) for ok, p in zip(learned, predicted, strict=True))
    fn = sum(not ok and not p for ok, p in zip(learned, predicted, strict=True))
    fp = sum(ok and bool(p) for ok, p in zip(learned, predicted, strict=True))
    tn = sum(ok and not p for ok, p in zip(learned, predicted, strict=True))
    controlled = [
        (p, cause)
        for ok, p, cause in zip(learned, predicted, causes, strict=True)
        if cause and not ok
    ]
    flagged = [(p, cause) for p, cause in controlled if p]
    right = sum(any(code in cause for code in p) for p, cause in flagged)
    return {
        "not_learned_flagged": tp,
        "not_learned_passed": fn,
        "learned_flagged": fp,
        "learned_passed": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "accuracy": (tp + tn) / len(learned) if learned else None,
        "controlled_not_learned": len(controlled),
        "controlled_flagged": len(flagged),
        "cause_right": right,
        "cause_right_rate": right / len(flagged) if flagged else None,
        "cause_named_rate": right / len(controlled) if controlled else None,
    }


def base_rate_expected(learned: list[bool]) -> dict[str, Any]:
    """The random guess's expected confusion matrix: "will not learn" with probability p,
    the fraction of runs that did not learn."""
    n = len(learned)
    bad = sum(not ok for ok in learned)
    p = bad / n if n else 0.0
    return {
        "not_learned_flagged": bad * p,
        "not_learned_passed": bad * (1 - p),
        "learned_flagged": (n - bad) * p,
        "learned_passed": (n - bad) * (1 - p),
        "precision": p if bad else None,
        "recall": p if bad else None,
        "accuracy": p * p + (1 - p) * (1 - p),
        "controlled_not_learned": None,
        "controlled_flagged": None,
        "cause_right": None,
        "cause_right_rate": None,
        "cause_named_rate": None,
    }


def best_norm_thresholds(runs: list[dict[str, Any]]) -> tuple[float, float]:
    """The (low, high) of NORM_SEARCH with the most runs predicted right: the gradient-norm
    baseline at its best, fitted on the runs it is scored on (an optimistic bound)."""
    norms = [r["init_grad_norm"] for r in runs]
    learned = [r["learned"] for r in runs]

    def right(low: float, high: float) -> int:
        return sum(
            ok != bool(norm_rule(n, low, high)) for n, ok in zip(norms, learned, strict=True)
        )

    pairs = [(low, high) for low in [0.0, *NORM_SEARCH] for high in [*NORM_SEARCH, float("inf")]]
    return max((p for p in pairs if p[0] < p[1]), key=lambda p: right(*p))


def _bounds(low: float, high: float) -> str:
    parts = [f"< {low:.3g}" if low > 0 else "", f"> {high:.3g}" if high < float("inf") else ""]
    return " or ".join(p for p in parts if p) or "never"


def predictions(runs: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """Per predictor, its verdict on every run (in the runs' order)."""
    at_init = [init_findings(r) for r in runs]
    low, high = best_norm_thresholds(runs)
    table = {}
    for reading in READINGS:
        table[f"tool at init ({reading})"] = [verdict(f, reading) for f in at_init]
        table[f"tool, watched tenth ({reading})"] = [
            verdict(r["watched"]["findings"], reading) for r in runs
        ]
    table["length and cell"] = [length_rule(r) for r in runs]
    table[f"gradient norm at init ({_bounds(NORM_LOW, NORM_HIGH)})"] = [
        norm_rule(r["init_grad_norm"]) for r in runs
    ]
    table[f"gradient norm at init, fitted in hindsight ({_bounds(low, high)})"] = [
        norm_rule(r["init_grad_norm"], low, high) for r in runs
    ]
    return table


def score(doc: dict[str, Any]) -> dict[str, Any]:
    """Every predictor's scores on the outcome file ``doc``, and the per-run verdicts."""
    runs = doc["runs"]
    learned = [r["learned"] for r in runs]
    causes = [expected_cause(r) for r in runs]
    verdicts = predictions(runs)
    table = {name: confusion(learned, v, causes) for name, v in verdicts.items()}
    table["random at the base rate (expected)"] = base_rate_expected(learned)
    return {
        "runs": len(runs),
        "not_learned": sum(not ok for ok in learned),
        "predictors": table,
        "verdicts": [
            {
                "run": f"{r['task']} {r['cell']} {r['init']} T={r['length']} seed {r['seed']}",
                "learned": r["learned"],
                "loss_ratio": r["loss_ratio"],
                "cause": list(cause),
                **{name: v[i] for name, v in verdicts.items()},
            }
            for i, (r, cause) in enumerate(zip(runs, causes, strict=True))
        ],
    }


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _count(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def table_lines(scores: dict[str, Any]) -> list[str]:
    """The predictors' confusion matrices and scores as one Markdown table."""
    lines = [
        "| predictor | not learned, flagged | not learned, passed | learned, flagged "
        "| learned, passed | precision | recall | cause right (of flagged controlled) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in scores["predictors"].items():
        cause = (
            "—"
            if row["controlled_flagged"] is None
            else f"{row['cause_right']} of {row['controlled_flagged']}"
        )
        lines.append(
            f"| {name} | {_count(row['not_learned_flagged'])} "
            f"| {_count(row['not_learned_passed'])} | {_count(row['learned_flagged'])} "
            f"| {_count(row['learned_passed'])} | {_rate(row['precision'])} "
            f"| {_rate(row['recall'])} | {cause} |"
        )
    return lines


def grid_lines(doc: dict[str, Any], scores: dict[str, Any]) -> list[str]:
    """Per (task, cell, init, length): runs learned of seeds, and the tool's verdicts (the
    codes, with the number of seeds flagged when not all)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run, row in zip(doc["runs"], scores["verdicts"], strict=True):
        key = (run["task"], run["cell"], run["init"], run["length"])
        groups.setdefault(key, []).append(row)
    init_key, watch_key = "tool at init (warnings)", "tool, watched tenth (warnings)"
    lines = [
        "| task | cell | init | T | learned | mean loss / baseline | tool at init "
        "(warnings) | watched tenth (warnings) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cells = {config["cell"]: i for i, config in enumerate(doc["grid"]["configs"])}
    inits = {(c["cell"], c["init"]): i for i, c in enumerate(doc["grid"]["configs"])}
    order = sorted(groups, key=lambda k: (k[0], cells[k[1]], inits[k[1], k[2]], k[3]))
    for task, cell, init, length in order:
        rows = groups[task, cell, init, length]
        ratios = [r["loss_ratio"] for r in rows if r["loss_ratio"] is not None]
        mean = f"{sum(ratios) / len(ratios):.2f}" if ratios else "not finite"
        if len(ratios) < len(rows) and ratios:
            mean += f" ({len(rows) - len(ratios)} not finite)"
        lines.append(
            f"| {task} | {cell} | {init} | {length} | {sum(r['learned'] for r in rows)}/"
            f"{len(rows)} | {mean} | {_codes(rows, init_key)} | {_codes(rows, watch_key)} |"
        )
    return lines


def _codes(rows: list[dict[str, Any]], key: str) -> str:
    counts = Counter(code for r in rows for code in r[key])
    if not counts:
        return "no objection"
    seeds = len(rows)
    return ", ".join(
        code if n == seeds else f"{code} ({n}/{seeds})" for code, n in sorted(counts.items())
    )


def load(path: pathlib.Path) -> dict[str, Any]:
    """Read an outcome file.

    Raises:
        UsageError: it cannot be read or is not an outcome file.
    """
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("rnnref-outcomes/"):
        raise UsageError(f"{path} is not an outcome file (no rnnref-outcomes schema)")
    return doc


def report_lines(doc: dict[str, Any], scores: dict[str, Any]) -> list[str]:
    """What ``evaluate --part outcomes`` prints: the header, the predictors' table, the grid."""
    recipe = doc["recipe"]
    return [
        f"part 4: outcomes of {scores['runs']} training runs ({scores['not_learned']} did "
        f"not learn), trained {doc['date']} on {doc['machine']} in {doc['cpu_s'] / 60:.1f} min "
        f"of CPU",
        f"recipe: Adam lr {recipe['lr']:g}, {recipe['steps']} steps of batch {recipe['batch']}, "
        f"gradient norm clipped at {recipe['clip']:g}; learned: held-out loss below "
        f"{doc['learned_fraction']:g} x the task's baseline",
        "",
        *table_lines(scores),
        "",
        *grid_lines(doc, scores),
    ]
