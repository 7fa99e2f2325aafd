"""The third corpus part, ``public``: run whole through ``python -m diagnostics evaluate``.

The part is run once (10 s on a quiet 2-core machine) and every case is checked on its own: a
faulty case detects its code, no case detects a code its fault does not
explain, a healthy case has no warning, and every recurrent module is probed
(chained calls over all their steps).
"""

import contextlib
import io
import json

import pytest

from diagnostics.cli import main
from diagnostics.evaluation.corpus_public import (
    NOT_PROBED,
    ONE_END_READ,
    PublicCase,
    probe_misses,
    public_corpus,
)
from diagnostics.evaluation.evaluate import DETECTED_AT, PARTS, RECALL_AIM, score

CASES = public_corpus()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The part through the command: its printed table and its results by case name."""
    out = tmp_path_factory.mktemp("public") / "evaluate.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["evaluate", "--part", "public", "--out", str(out)])
    results = json.loads(out.read_text())["public"]["results"]
    return code, printed.getvalue(), {r["name"]: r for r in results}


def test_public_corpus_size_and_provenance():
    healthy = [case for case in CASES if case.fault == "healthy"]
    faulty = [case for case in CASES if case.fault != "healthy"]
    assert len(CASES) >= 20 and len(healthy) >= 10 and len(faulty) >= 5
    assert all((case.expected is None) != (case.refused is None) for case in faulty)
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(case.source.startswith("https://") for case in CASES)
    assert all(case.issue is None for case in healthy)
    assert all(case.issue.startswith("https://github.com/") for case in faulty)
    assert {case.expected for case in faulty} >= {
        ONE_END_READ,
        "no-gradient",
        "state-carries-graph",
    }
    assert any(case.chained for case in CASES)


def test_warning_codes_of_the_fixes_count_as_detections():
    assert "warning" in DETECTED_AT[ONE_END_READ] and "warning" in DETECTED_AT[NOT_PROBED]


def test_both_keeps_its_meaning_and_all_adds_the_public_part():
    assert PARTS["both"] == ("faults", "wild")
    assert PARTS["all"] == ("faults", "wild", "public", "outcomes")
    assert PARTS["public"] == ("public",)


def test_probe_misses_names_unprobed_and_short_chained_modules():
    case = PublicCase(
        "c", "healthy", None, frozenset(), lambda: (), chained=("dec", "gone")
    )  # a chained module the model does not have is a miss too
    modules = [
        {"name": "enc", "calls": 0, "input_shape": None, "batch_first": False, "chunks": None},
        {
            "name": "dec",
            "calls": 6,
            "input_shape": [4, 1, 8],
            "batch_first": True,
            "chunks": [[1, False]] * 6,
        },
    ]
    assert probe_misses(case, modules) == [
        "enc: not probed",
        "gone: no such recurrent module",
        "dec: probed 1 of 6 chained steps",
    ]
    modules[0]["calls"], modules[0]["input_shape"] = 1, [30, 4, 8]
    modules[1]["input_shape"] = [4, 6, 8]
    assert probe_misses(PublicCase("c", "healthy", None, frozenset(), lambda: ()), modules) == []


def test_the_command_prints_the_public_table(run):
    code, printed, results = run
    assert "part 3: models written after widely used public code" in printed
    assert "| code | faulty cases | recall | error detections | precision |" in printed
    assert "healthy models with a warning or error" in printed
    assert set(results) == {case.name for case in CASES}
    assert code == 0


def _verdict(result: dict) -> list[str]:
    """What is wrong with one case's diagnosis (empty: right)."""
    wrong = []
    if result["failed"]:
        wrong.append(f"failed: {result['failed']}")
    if result["refusal"] is not None and not result["refused"]:
        wrong.append(f"not refused with {result['refusal']!r}")
    if result["expected"] and result["expected"] not in result["detected"]:
        wrong.append(f"missed {result['expected']}")
    wrong += [f"false alarm {c}" for c in result["detected"] if c not in result["acceptable"]]
    if result["fault"] == "healthy" and (result["errors"] or result["warnings"]):
        wrong.append(f"healthy warned: {result['errors'] + result['warnings']}")
    return wrong + result["probe_misses"]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_public_case_is_diagnosed_right(run, case):
    assert _verdict(run[2][case.name]) == []


def test_the_public_part_meets_the_aims(run):
    ready = [run[2][case.name] for case in CASES]
    scores = score(ready)
    assert len(scores["codes"]) >= 2
    for code, row in scores["codes"].items():
        assert row["recall"] >= RECALL_AIM, (code, scores["missed"])
        assert row["precision"] == 1.0, (code, scores["false_alarms"])
    assert scores["healthy_with_warning"] == 0, scores["healthy_warned"]
    assert not scores["failed"] and not scores["probe_misses"]
    assert scores["refused"] == scores["refusals"] >= 2
