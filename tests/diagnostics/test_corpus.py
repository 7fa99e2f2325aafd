"""Corpus parts 1 and 2 meet their aims (on every third or second case, to keep the suite fast);
part 3 (public) has its own file, test_corpus_public.py.

The full corpus is ``python -m diagnostics evaluate``; its table is in
docs/measurements/corpora.md.
"""

from collections import Counter

from diagnostics.cli import main
from diagnostics.evaluation.corpus import corpus
from diagnostics.evaluation.corpus_wild import wild_corpus
from diagnostics.evaluation.evaluate import (
    HEALTHY_ALARM_AIM,
    RECALL_AIM,
    WILD_HEALTHY_WARNING_AIM,
    aims_met,
    evaluate,
)


def test_corpus_size_and_coverage():
    cases = corpus()
    faults = Counter(case.fault for case in cases)
    assert faults["healthy"] == 50 and sum(faults.values()) - 50 >= 50
    cells = {
        case.name.split("-")[-4] if "bi" in case.name else case.name.split("-")[-3]
        for case in cases
    }
    assert {"rnn_tanh", "rnn_relu", "lstm", "gru"} <= cells
    assert any("-l2-bi-" in case.name and case.expected for case in cases)
    assert len({case.name for case in cases}) == len(cases)


def test_corpus_meets_the_aims_on_every_third_case():
    results, scores = evaluate(corpus()[::3], progress=False)
    assert {r["fault"] for r in results} >= {"healthy", "shrunk-w_hh", "non-finite-weight"}
    for code, row in scores["codes"].items():
        assert row["recall"] >= RECALL_AIM, (code, scores["missed"])
        assert row["precision"] is None or row["precision"] >= 0.9, (code, scores["false_alarms"])
    assert scores["healthy_alarm_rate"] <= HEALTHY_ALARM_AIM, scores["false_alarms"]
    assert aims_met(scores)


def test_wild_corpus_size_and_coverage():
    cases = wild_corpus()
    healthy = [case for case in cases if case.expected is None]
    assert len(cases) >= 30 and len(healthy) >= 15
    assert len({case.name for case in cases}) == len(cases)
    expected = {case.expected for case in cases if case.expected}
    assert expected >= {
        "no-gradient",
        "truncated-gradient",
        "training-divergence",
        "loss-broadcast",
        "state-carries-graph",
        "exploding-gradient",
    }
    assert all(Counter(c.expected for c in cases)[code] >= 2 for code in expected - {None})


def test_wild_corpus_meets_the_aims_on_every_other_case():
    _, scores = evaluate(wild_corpus()[1::2], progress=False)
    assert len(scores["codes"]) >= 5
    for code, row in scores["codes"].items():
        assert row["recall"] >= RECALL_AIM, (code, scores["missed"])
        assert row["precision"] is None or row["precision"] >= 0.9, (code, scores["false_alarms"])
    assert scores["healthy_with_error"] == 0, scores["healthy_warned"]
    assert scores["healthy_warning_rate"] <= WILD_HEALTHY_WARNING_AIM, scores["healthy_warned"]
    assert aims_met(scores, alarm_aim=0.0, warning_aim=WILD_HEALTHY_WARNING_AIM)


def test_evaluate_command_prints_the_table_of_every_part_by_default(tmp_path, capsys):
    code = main(["evaluate", "--healthy", "4", "--every", "9", "--out", str(tmp_path / "e.json")])
    out = capsys.readouterr().out
    assert "| code | faulty cases | recall | error detections | precision |" in out
    assert "part 1: fault corpus" in out and "part 2: models written" in out
    assert "part 3: models written after widely used public code" in out
    assert "part 4: outcomes of" in out
    assert "healthy models with an error finding" in out
    assert "healthy models with a warning or error" in out
    assert (tmp_path / "e.json").is_file()
    assert code in (0, 1)
