"""findings.json schema checks and the diagnose report: sections, escaping, browser."""

import json

import pytest
import torch
from torch import nn

from diagnostics import diagnose
from reports.__main__ import main as reports_main
from reports.findingsfile import SCHEMA, BadFindingsFile, dump_findings, load_findings
from tests.browser import check_report

HOSTILE = "<script>alert(1)</script>"


class Hostile(nn.Module):
    """A model whose module name and target label carry HTML."""

    def __init__(self):
        super().__init__()
        self.add_module(HOSTILE, nn.LSTM(4, 6, num_layers=2, bidirectional=True))
        self.head = nn.Linear(12, 2)

    def forward(self, x):
        return self.head(getattr(self, HOSTILE)(x)[0])


@pytest.fixture(scope="module")
def findings_file(tmp_path_factory):
    torch.manual_seed(0)
    doc = diagnose(
        Hostile(),
        torch.randn(10, 3, 4),
        target_label=f"{HOSTILE}.py:build",
        input_label=HOSTILE,
        steps=3,
    )
    path = tmp_path_factory.mktemp("report") / "findings.json"
    dump_findings(doc, path)
    return path


def test_findings_round_trip(findings_file):
    doc = load_findings(findings_file)
    assert doc["schema"] == SCHEMA
    assert doc["modules"][0]["name"] == HOSTILE
    assert len(doc["probes"]["recurrent"]) == 4
    text = findings_file.read_text()
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("{", "broken JSON"),
        ("[]", "top level is not an object"),
        ('{"schema": "rnnref-run/1"}', "unknown schema"),
        ('{"schema": "rnnref-findings/9"}', "newer schema"),
        ('{"schema": "rnnref-findings/1", "target": 3}', "'target' must be a string"),
    ],
)
def test_bad_findings_files(tmp_path, content, message):
    path = tmp_path / "f.json"
    path.write_text(content)
    with pytest.raises(BadFindingsFile, match=message) as err:
        load_findings(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_bad_finding_entries(tmp_path, findings_file):
    doc = load_findings(findings_file)
    doc["findings"] = [
        {
            "code": "x",
            "severity": "fatal",
            "module": None,
            "summary": "s",
            "evidence": {},
            "advice": "a",
        }
    ]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadFindingsFile, match="severity 'fatal'"):
        load_findings(path)
    with pytest.raises(BadFindingsFile, match="no such file"):
        load_findings(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def report_file(findings_file):
    out = findings_file.with_name("report.html")
    assert reports_main(["diagnose", str(findings_file), "-o", str(out)]) == 0
    return out


def test_reports_cli_refuses_bad_files(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{")
    assert reports_main(["diagnose", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken JSON" in err


def test_report_sections_and_escaping(report_file):
    html = report_file.read_text()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.index('id="verdicts"') < html.index("Gradient through time")
    for heading in ("Recurrent spectrum", "Saturation", "Parameters", "Training"):
        assert heading in html
    assert "suggested clip_grad_norm_ max_norm" in html
    assert "http://" not in html.replace("http://www.w3.org", "")


def test_report_in_browser(tmp_path, report_file):
    page = check_report(
        report_file,
        tmp_path,
        min_tables=3,
        min_figures=4,
        ids=("verdicts", "setup", "modules-table", "module-1", "parameters-table", "training"),
    )
    assert HOSTILE in page.dom.replace("&lt;", "<").replace("&gt;", ">")
