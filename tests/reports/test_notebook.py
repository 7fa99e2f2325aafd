"""Run files and findings files loaded in Python render themselves in Jupyter.

``_repr_html_`` is what Jupyter calls; the loaded objects stay the dicts they were.
"""

import json
import pathlib

from reports.findingsfile import FindingsDocument, dump_findings, load_findings
from reports.notebook import MAX_ROWS
from reports.render import fmt_ms
from reports.runfile import RunDocument, load_run
from tests.reports import runfactory

DATA = pathlib.Path(__file__).with_name("data")
HOSTILE = "<script>alert(1)</script>"


class Printer:
    """The part of IPython's pretty printer that ``_repr_pretty_`` uses."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, text: str) -> None:
        self.parts.append(text)


def plain_text(document: dict) -> str:
    """What IPython shows for ``document`` as plain text."""
    printer = Printer()
    document._repr_pretty_(printer, False)
    return "".join(printer.parts)


def test_loaded_run_is_the_same_dict_and_shows_environment_and_rows(tmp_path):
    rows = [
        runfactory.benchmark(backend="torch", median=0.004, seed=1),
        runfactory.benchmark(backend="numpy", median=0.006, seed=2, module=HOSTILE),
    ]
    doc = runfactory.run(
        rows,
        machine={**runfactory.MACHINE, "node": HOSTILE},
        skipped=[{"case": "lstm-inference-cudnn-b16", "reason": "no CUDA device"}],
    )
    run = load_run(runfactory.write(tmp_path / "run.json", doc))
    assert isinstance(run, RunDocument) and isinstance(run, dict)
    assert run["benchmarks"] == doc["benchmarks"] and run["partial"] is False
    html = run._repr_html_()
    assert HOSTILE not in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "Synthetic CPU @ 2.0GHz" in html and "torch: 2.13.0" in html
    assert "2 row(s) timed, 1 skipped, 0 failed" in html
    for row in rows:
        median_ms = fmt_ms(row["stats"]["median"])
        assert f"<td>{row['extra_info']['case']}</td><td>{median_ms}</td>" in html


def test_a_long_run_shows_its_first_rows_and_counts_the_rest(tmp_path):
    doc = runfactory.matrix()
    run = load_run(runfactory.write(tmp_path / "run.json", doc))
    html = run._repr_html_()
    assert html.count("<tr><td>") == MAX_ROWS
    assert f"and {len(doc['benchmarks']) - MAX_ROWS} more row(s)" in html


def test_a_partial_run_says_it_is_partial(tmp_path):
    path = runfactory.write_partial(tmp_path / "run.partial.jsonl", runfactory.matrix())
    run = load_run(path)
    assert isinstance(run, RunDocument)
    assert "partial: the run did not finish" in run._repr_html_()


def test_real_smoke_run_renders():
    html = load_run(DATA / "smoke-run.json")._repr_html_()
    assert "lstm-inference-numpy-" in html and "rnnref.layers.LSTM" in html


def test_loaded_findings_are_the_same_dict_with_verdict_and_escaped_strings(tmp_path):
    doc = json.loads((DATA / "findings-gru_forecaster.json").read_text())
    doc["target"] = f"{HOSTILE}.py:build"
    doc["findings"][0]["summary"] = HOSTILE
    path = tmp_path / "findings.json"
    dump_findings(doc, path)
    loaded = load_findings(path)
    assert isinstance(loaded, FindingsDocument) and loaded == doc
    assert json.loads(json.dumps(loaded)) == doc
    html = loaded._repr_html_()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "warnings: check them" in html and "0 error(s), 1 warning(s), 0 note(s)" in html
    assert "<code>vanishing-gradient</code>" in html and "<td>gru</td><td>GRU</td>" in html


def test_findings_are_listed_most_severe_first_and_no_finding_says_so():
    doc = load_findings(DATA / "findings-bilstm_tagger.json")
    warning = doc["findings"][0]
    doc["findings"] = [
        {**warning, "code": "subnormal-gradient", "severity": "info"},
        {**warning, "code": "non-finite", "severity": "error"},
    ]
    html = doc._repr_html_()
    assert html.index("non-finite") < html.index("subnormal-gradient")
    assert "errors found" in html
    doc["findings"] = []
    html = doc._repr_html_()
    assert "no error or warning" in html and "<code>" in html and "<th>code</th>" not in html


def test_plain_text_display_is_one_line_not_the_whole_dict(tmp_path):
    run = load_run(runfactory.write(tmp_path / "run.json", runfactory.matrix()))
    text = plain_text(run)
    assert "\n" not in text and f"{len(run['benchmarks'])} row(s) timed, 2 skipped" in text
    assert "'benchmarks'" in text and "'rnnref'" in text
    findings = load_findings(DATA / "findings-gru_forecaster.json")
    text = plain_text(findings)
    assert "\n" not in text and "'diagnostics.examples.gru_forecaster:build'" in text
    assert "0 error(s), 1 warning(s), 0 note(s)" in text and "'probes'" in text


def test_fields_the_schemas_do_not_require_may_be_missing(tmp_path):
    doc = load_findings(DATA / "findings-bilstm_tagger.json")
    doc["modules"] = [{"name": "lstm", "type": "LSTM"}]
    assert "<td>lstm</td><td>LSTM</td><td>—</td>" in doc._repr_html_()
    row = runfactory.benchmark()
    for field in ("case", "rel_err", "module"):
        del row["extra_info"][field]
    run = load_run(runfactory.write(tmp_path / "run.json", runfactory.run([row])))
    assert f"<td>{row['name']}</td>" in run._repr_html_()
