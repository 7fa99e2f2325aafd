"""Part 4, ``outcomes``: a few tiny runs trained end to end through ``--train``'s code path,
and ``python -m diagnostics evaluate --part outcomes`` on the committed outcome file."""

from __future__ import annotations

import json

from diagnostics.cli import main
from diagnostics.evaluation import outcomes
from diagnostics.evaluation.outcomes_grid import OUTCOMES_FILE, SCHEMA, Run, train_grid
from diagnostics.evaluation.outcomes_tasks import Recipe

TINY = Recipe(steps=20, batch=8, eval_batch=32)


def test_tiny_runs_train_label_and_score(tmp_path):
    runs = [
        Run("adding", "lstm", "default", 6, 0),
        Run("recall", "rnn_relu", "grown-w_hh", 6, 0),
        Run("adding", "rnn_tanh", "shrunk-w_hh", 8, 1),
    ]
    path = tmp_path / "outcomes.json"
    train_grid(path, runs, TINY, jobs=1)
    doc = outcomes.load(path)
    assert doc["schema"] == SCHEMA and doc["recipe"]["steps"] == TINY.steps
    assert [(r["task"], r["cell"], r["init"]) for r in doc["runs"]] == [
        (r.task, r.cell, r.init) for r in runs
    ]
    for run in doc["runs"]:
        ratio = run["loss_ratio"]
        assert run["learned"] == (ratio is not None and ratio < doc["learned_fraction"])
        assert run["watched"]["sampled_steps"][0] == 0
        assert len(run["watched"]["history"]) == len(run["watched"]["sampled_steps"])
    grown = doc["runs"][1]
    assert "exploding-gradient" in outcomes.verdict(outcomes.init_findings(grown), "warnings")
    assert outcomes.expected_cause(grown) == ("exploding-gradient",)
    scores = outcomes.score(doc)
    for row in scores["predictors"].values():
        cells = ("not_learned_flagged", "not_learned_passed", "learned_flagged", "learned_passed")
        assert abs(sum(row[c] for c in cells) - len(runs)) < 1e-9
    lines = outcomes.report_lines(doc, scores)
    assert any(line.startswith("| tool at init (errors) |") for line in lines)
    assert sum(line.startswith(("| adding |", "| recall |")) for line in lines) == 3


def test_evaluate_outcomes_prints_the_tables_of_the_committed_file(tmp_path, capsys):
    out = tmp_path / "evaluate.json"
    code = main(["evaluate", "--part", "outcomes", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    scores = outcomes.score(outcomes.load(OUTCOMES_FILE))
    assert scores["runs"] >= 100
    table = outcomes.table_lines(scores)
    for line in table:
        assert line in printed
    for name in ("tool at init (errors)", "tool, watched tenth (warnings)", "length and cell"):
        assert f"| {name} |" in printed
    assert "| random at the base rate (expected) |" in printed
    written = json.loads(out.read_text())
    assert list(written) == ["outcomes"]
    assert written["outcomes"]["scores"]["predictors"] == json.loads(
        json.dumps(scores["predictors"])
    )


def test_train_only_with_the_outcome_part(capsys):
    code = main(["evaluate", "--part", "wild", "--train"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--train: only with --part outcomes" in err


def test_a_file_that_is_not_an_outcome_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "o.json"
    bad.write_text('{"runs": []}')
    code = main(["evaluate", "--part", "outcomes", "--outcomes", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "is not an outcome file" in err and err.count("\n") == 1
