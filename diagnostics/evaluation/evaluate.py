"""``python -m diagnostics evaluate``: diagnose the corpus parts; precision and recall per code.

Part 1 is the fault corpus (:mod:`diagnostics.evaluation.corpus`), part 2 the models
written the way people write them (:mod:`diagnostics.evaluation.corpus_wild`), part 3 the
models written after widely used public code, with the bugs reported in their
trackers (:mod:`diagnostics.evaluation.corpus_public`), part 4 the outcomes of real
training runs (:mod:`diagnostics.evaluation.outcomes`: read from the committed outcome
file, or trained again with ``--train``). ``--part all`` (the default) runs the four,
``--part both`` parts 1 and 2 (as it did before part 3 existed). A case
*detects* a code when the diagnosis has an error finding with it (or a
warning, for the codes whose finding is a warning: DETECTED_AT).
Recall of a code: the fraction of cases whose injected fault expects it that
detect it. Precision: among cases that detect it, the fraction where it is
one of the codes the fault is known to cause (``corpus.CorpusCase.acceptable``;
never for a healthy case). For faults placed in one layer and direction, the
finding should also name that layer and direction (reported, not an aim).
Aims: recall >= 0.95 per code on every part; at most 5%
of healthy cases with an error finding in part 1 and none in parts 2 and 3; at
most 10% of the healthy models of parts 2 and 3 with a warning; in part 3, every
recurrent module probed (chained calls over all their steps:
:func:`diagnostics.evaluation.corpus_public.probe_misses`). A case whose diagnosis raises
counts as failed (it detects nothing) and misses the aims, except a public
model torch cannot run as written, which the diagnosis must refuse in one line
with torch's message (``PublicCase.refused``). Exit 0 when the aims
are met, else 1; part 4 is measured against no aim and leaves the exit code alone.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from typing import Any

from diagnostics.evaluation import outcomes, outcomes_grid
from diagnostics.evaluation.corpus import CorpusCase, corpus
from diagnostics.evaluation.corpus_public import (
    NOT_PROBED,
    ONE_END_READ,
    PublicCase,
    probe_misses,
    public_corpus,
)
from diagnostics.evaluation.corpus_wild import wild_corpus
from diagnostics.evaluation.outcomes_grid import OUTCOMES_FILE
from diagnostics.pipeline import diagnose
from usermodel.errors import UsageError

RECALL_AIM = 0.95
HEALTHY_ALARM_AIM = 0.05
WILD_HEALTHY_ALARM_AIM = 0.0
WILD_HEALTHY_WARNING_AIM = 0.10

PARTS = {
    "faults": ("faults",),
    "wild": ("wild",),
    "public": ("public",),
    "outcomes": ("outcomes",),
    "both": ("faults", "wild"),
    "all": ("faults", "wild", "public", "outcomes"),
}
"""``--part`` choice -> the parts it runs, in order (``both``: parts 1 and 2, as before
part 3 existed)."""

DETECTED_AT = {
    code: ("warning", "error") for code in ("state-carries-graph", ONE_END_READ, NOT_PROBED)
}
"""Severities at which a finding detects its code; any other code: error only."""


def run_case(case: CorpusCase) -> dict[str, Any]:
    """Diagnose one case; the codes it detects, its error and warning codes; ``failed``,
    the exception's one line when the diagnosis raised (or did not refuse a public case
    it should have: ``PublicCase.refused``); ``refused``, whether it refused the case as
    expected; ``probe_misses``, what a public case's diagnosis left unprobed."""
    refusal = case.refused if isinstance(case, PublicCase) else None
    model, x, target = (*case.build(), None)[:3]
    try:
        doc = diagnose(
            model,
            x,
            target_label=case.name,
            input_label="corpus",
            seed=0,
            target=target,
            loss_kind=case.loss,
            steps=case.steps,
            lr=case.lr,
        )
    except Exception as exc:  # scored as a failed case, not an aborted evaluation
        doc = {"findings": [], "modules": []}
        expected = refusal is not None and isinstance(exc, UsageError) and refusal in str(exc)
        failed = None if expected else f"{type(exc).__name__}: {exc}"
    else:
        failed = None if refusal is None else f"not refused (expected: {refusal})"
    misses = probe_misses(case, doc["modules"]) if isinstance(case, PublicCase) else []
    located = [
        (f["evidence"].get("layer"), f["evidence"].get("direction"))
        for f in doc["findings"]
        if f["severity"] == "error" and f["code"] == case.expected
    ]
    return {
        "name": case.name,
        "fault": case.fault,
        "expected": case.expected,
        "acceptable": sorted(case.acceptable),
        "location": list(case.location) if case.location else None,
        "located": [list(where) for where in located],
        "detected": sorted(
            {
                f["code"]
                for f in doc["findings"]
                if f["severity"] in DETECTED_AT.get(f["code"], ("error",))
            }
        ),
        "errors": sorted({f["code"] for f in doc["findings"] if f["severity"] == "error"}),
        "warnings": sorted({f["code"] for f in doc["findings"] if f["severity"] == "warning"}),
        "failed": failed,
        "refusal": refusal,
        "refused": refusal is not None and failed is None,
        "probe_misses": [] if failed else misses,
    }


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall per expected code, and the healthy false-alarm rates."""
    codes = sorted({r["expected"] for r in results if r["expected"]})
    table = {}
    for code in codes:
        positives = [r for r in results if r["expected"] == code]
        detected = [r for r in results if code in r["detected"]]
        correct = [r for r in detected if code in r["acceptable"]]
        table[code] = {
            "cases": len(positives),
            "recall": sum(code in r["detected"] for r in positives) / len(positives)
            if positives
            else None,
            "detections": len(detected),
            "precision": len(correct) / len(detected) if detected else None,
        }
    healthy = [r for r in results if r["fault"] == "healthy"]
    alarms = [r for r in healthy if r["errors"]]
    warned = [r for r in healthy if r["errors"] or r["warnings"]]
    placed = [r for r in results if r["location"] and r["expected"] in r["errors"]]
    return {
        "codes": table,
        "healthy": len(healthy),
        "healthy_with_error": len(alarms),
        "healthy_alarm_rate": len(alarms) / len(healthy) if healthy else None,
        "healthy_with_warning": len(warned),
        "healthy_warning_rate": len(warned) / len(healthy) if healthy else None,
        "healthy_warned": [
            f"{r['name']}: {', '.join(r['errors'] + r['warnings'])}" for r in warned
        ],
        "placed_cases": len(placed),
        "placed_localized": sum(r["located"] == [r["location"]] for r in placed),
        "missed": [
            r["name"] for r in results if r["expected"] and r["expected"] not in r["detected"]
        ],
        "false_alarms": [
            f"{r['name']}: {code}"
            for r in results
            for code in r["detected"]
            if code not in r["acceptable"]
        ],
        "failed": [f"{r['name']}: {r['failed']}" for r in results if r.get("failed")],
        "refusals": sum(r.get("refusal") is not None for r in results),
        "refused": sum(bool(r.get("refused")) for r in results),
        "probe_misses": [
            f"{r['name']}: {miss}" for r in results for miss in r.get("probe_misses", [])
        ],
    }


def aims_met(
    scores: dict[str, Any], alarm_aim: float = HEALTHY_ALARM_AIM, warning_aim: float = 1.0
) -> bool:
    """Recall >= RECALL_AIM for every code, healthy cases with an error <= ``alarm_aim``,
    healthy cases with a warning or error <= ``warning_aim``, no case failed and
    nothing left unprobed."""
    recalls = [row["recall"] for row in scores["codes"].values()]
    return (
        all(r is not None and r >= RECALL_AIM for r in recalls)
        and scores["healthy_alarm_rate"] is not None
        and scores["healthy_alarm_rate"] <= alarm_aim
        and scores["healthy_warning_rate"] <= warning_aim
        and not scores["failed"]
        and not scores["probe_misses"]
    )


def table_lines(scores: dict[str, Any]) -> list[str]:
    """The precision/recall table as Markdown."""
    lines = [
        "| code | faulty cases | recall | error detections | precision |",
        "|---|---|---|---|---|",
    ]
    for code, row in scores["codes"].items():
        recall = "—" if row["recall"] is None else f"{row['recall']:.2f}"
        precision = "—" if row["precision"] is None else f"{row['precision']:.2f}"
        lines.append(f"| {code} | {row['cases']} | {recall} | {row['detections']} | {precision} |")
    lines.append(
        f"\nhealthy models with an error finding: {scores['healthy_with_error']} of "
        f"{scores['healthy']} ({100 * (scores['healthy_alarm_rate'] or 0):.0f}%)"
    )
    lines.append(
        f"healthy models with a warning or error: {scores['healthy_with_warning']} of "
        f"{scores['healthy']} ({100 * (scores['healthy_warning_rate'] or 0):.0f}%)"
    )
    if scores["refusals"]:
        lines.append(
            f"models torch cannot run, refused in one line (exit 2): "
            f"{scores['refused']} of {scores['refusals']}"
        )
    if scores["failed"]:
        lines.append(f"models whose diagnosis failed: {len(scores['failed'])}")
    if scores["probe_misses"]:
        lines.append(f"recurrent modules left unprobed: {len(scores['probe_misses'])}")
    if scores["placed_cases"]:
        lines.append(
            f"faults in the first layer's forward direction only, found and located there: "
            f"{scores['placed_localized']} of {scores['placed_cases']}"
        )
    return lines


def evaluate(cases: list[CorpusCase], progress: bool = True) -> tuple[list[dict], dict[str, Any]]:
    """Diagnose every case; return the per-case results and the scores."""
    results = []
    for i, case in enumerate(cases, 1):
        results.append(run_case(case))
        if progress:
            print(f"\r{i}/{len(cases)} {case.name:<50}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return results, score(results)


def run_outcomes(path: pathlib.Path, train: bool) -> dict[str, Any]:
    """Part 4: train the grid into ``path`` first when ``train``, then score the outcome file
    and print its tables; the section of evaluate.json.

    Raises:
        UsageError: the outcome file cannot be read (or, with ``train``, written).
    """
    if train:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            outcomes_grid.train_grid(path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wrote {path}")
    start = time.perf_counter()
    doc = outcomes.load(path)
    scores = outcomes.score(doc)
    print("\n".join(outcomes.report_lines(doc, scores)))
    print(f"(scored in {time.perf_counter() - start:.1f} s from {path})\n")
    return {
        "file": str(path),
        "date": doc["date"],
        "machine": doc["machine"],
        "cpu_s": doc["cpu_s"],
        "scores": scores,
    }


def run_evaluation(
    healthy: int,
    repeats: int,
    every: int,
    part: str,
    out: pathlib.Path,
    outcomes_file: pathlib.Path = OUTCOMES_FILE,
    train: bool = False,
) -> int:
    """``python -m diagnostics evaluate``: score ``part`` (a key of PARTS) on
    every ``every``-th case (``healthy`` healthy cases and ``repeats`` seeds in the fault
    corpus), print the tables, write the results to ``out``; 0 when every aim is met, else 1.
    Part 4 reads ``outcomes_file`` (trained again first with ``train``).

    Raises:
        UsageError: ``out`` cannot be written, or the outcome file read.
    """
    parts = {
        "faults": (
            "part 1: fault corpus",
            lambda: corpus(healthy, repeats),
            {"alarm_aim": HEALTHY_ALARM_AIM},
        ),
        "wild": (
            "part 2: models written the way people write them",
            wild_corpus,
            {"alarm_aim": WILD_HEALTHY_ALARM_AIM, "warning_aim": WILD_HEALTHY_WARNING_AIM},
        ),
        "public": (
            "part 3: models written after widely used public code",
            public_corpus,
            {"alarm_aim": WILD_HEALTHY_ALARM_AIM, "warning_aim": WILD_HEALTHY_WARNING_AIM},
        ),
    }
    chosen = PARTS[part]
    written: dict[str, Any] = {}
    met = True
    for key in chosen:
        if key == "outcomes":
            written[key] = run_outcomes(outcomes_file, train)
            continue
        title, make, aims = parts[key]
        cases = make()[::every]
        start = time.perf_counter()
        results, scores = evaluate(cases, progress=sys.stderr.isatty())
        elapsed = time.perf_counter() - start
        faulty = sum(case.fault != "healthy" for case in cases)
        print(
            f"{title}: {len(cases)} models ({faulty} faulty, {len(cases) - faulty} healthy) "
            f"in {elapsed:.1f} s"
        )
        print("\n".join(table_lines(scores)))
        for name in scores["missed"]:
            print(f"missed: {name}")
        for line in scores["false_alarms"]:
            print(f"false alarm: {line}")
        for line in scores["healthy_warned"]:
            print(f"healthy with a warning: {line}")
        for line in scores["failed"]:
            print(f"failed: {line}")
        for line in scores["probe_misses"]:
            print(f"not probed: {line}")
        print()
        met = met and aims_met(scores, **aims)
        written[key] = {"scores": scores, "results": results}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(written, indent=1) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}")
    return 0 if met else 1
