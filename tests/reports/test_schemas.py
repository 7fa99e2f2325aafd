"""The published JSON Schemas: every file the writers produce passes, and each bad field
of a careless user's files is one line naming the file and the field, exit 2."""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from reports import validate
from reports.__main__ import main
from reports.findingsfile import SEVERITIES, load_findings
from reports.runfile import KEY_FIELDS, load_run
from tests.reports import runfactory as rf

DATA = pathlib.Path(__file__).with_name("data")
SMOKE = json.loads((DATA / "smoke-run.json").read_text())
FINDINGS = json.loads((DATA / "findings-gru_forecaster.json").read_text())


def _schema(name: str) -> dict[str, Any]:
    return json.loads((validate.SCHEMAS / name).read_text())


@pytest.mark.parametrize("name", ["rnnref-run-1.schema.json", "rnnref-findings-1.schema.json"])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = _schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schemas_agree_with_the_readers_constants() -> None:
    run = _schema("rnnref-run-1.schema.json")
    assert tuple(run["$defs"]["extra_info"]["required"]) == KEY_FIELDS
    findings = _schema("rnnref-findings-1.schema.json")
    assert tuple(findings["$defs"]["finding"]["properties"]["severity"]["enum"]) == SEVERITIES


@pytest.mark.parametrize(
    "name", ["smoke-run.json", "smoke-run.partial.jsonl"], ids=["final", "partial"]
)
def test_a_real_smoke_run_validates(name: str) -> None:
    run = load_run(DATA / name)
    assert len(run["benchmarks"]) == 28


@pytest.mark.parametrize("name", ["findings-gru_forecaster.json", "findings-bilstm_tagger.json"])
def test_real_findings_files_validate(name: str) -> None:
    assert load_findings(DATA / name)["probes"]["recurrent"]


def test_the_test_factories_validate(tmp_path: pathlib.Path) -> None:
    load_run(rf.write(tmp_path / "m.json", rf.matrix(seed=3)))
    load_run(rf.write_partial(tmp_path / "m.partial.jsonl", rf.matrix(seed=3), cut_last=True))


def _edit(change: Callable[[dict], Any]) -> Callable[[dict], str]:
    def make(doc: dict) -> str:
        doc = copy.deepcopy(doc)
        change(doc)
        return json.dumps(doc)

    return make


def _set(doc: dict, path: str, value: Any) -> None:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        doc = doc[part]
    doc[last] = value


def _text_edit(path: str, value: str) -> Callable[[dict], str]:
    """Put ``value`` (raw JSON text, e.g. NaN) at ``path``."""
    marker = "__MARKER__"
    return lambda doc: _edit(lambda d: _set(d, path, marker))(doc).replace(f'"{marker}"', value)


def _mismatched_gates() -> dict:
    doc = json.loads((DATA / "findings-bilstm_tagger.json").read_text())
    blocks = doc["probes"]["recurrent"][1]["spectrum"]["blocks"]
    doc["probes"]["recurrent"][1]["spectrum"]["blocks"] = {"q": blocks["i"]}
    return doc


RUN_CASES = {
    "NaN median": (_text_edit("benchmarks.3.stats.median", "NaN"), "NaN is not a JSON number"),
    "Infinity median": (
        _text_edit("benchmarks.3.stats.median", "-Infinity"),
        "-Infinity is not a JSON number",
    ),
    "overflowing median": (_text_edit("benchmarks.3.stats.median", "1e400"), "too large"),
    "median of 0": (
        _edit(lambda d: _set(d, "benchmarks.3.stats.median", 0)),
        "benchmarks[3].stats.median: 0 is not > 0",
    ),
    "5000-digit integer": (
        _text_edit("benchmarks.0.extra_info.batch", "9" * 5000),
        "an integer of 5000 digits",
    ),
    "string for a number": (
        _edit(lambda d: _set(d, "benchmarks.0.extra_info.batch", "4")),
        "'benchmarks[0].extra_info.batch' must be an integer, not a string '4'",
    ),
    "no numerics bounds": (
        _edit(lambda d: d["rnnref"].pop("bounds")),
        "rnnref lacks 'bounds'",
    ),
    "no fp32 bound": (
        _edit(lambda d: d["rnnref"]["bounds"].pop("fp32")),
        "rnnref.bounds lacks 'fp32'",
    ),
    "string timings": (
        _edit(lambda d: _set(d, "benchmarks.1.stats.data.2", "0.1")),
        "'benchmarks[1].stats.data[2]' must be a number",
    ),
    "dict for a key": (
        _edit(lambda d: _set(d, "benchmarks.0.extra_info.backend", {"a": 1})),
        "'benchmarks[0].extra_info.backend' must be a string, not an object",
    ),
    "machine_info a string": (
        _edit(lambda d: _set(d, "machine_info", "vm")),
        "'machine_info' must be an object, not a string 'vm'",
    ),
    "cpu a list": (
        _edit(lambda d: _set(d, "machine_info.cpu", [])),
        "'machine_info.cpu' must be an object, not an array",
    ),
    "100,000 deep": (
        lambda d: '{"rnnref": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "nested too deeply",
    ),
    "lone surrogate": (
        _text_edit("benchmarks.0.extra_info.module", '"\\ud800"'),
        "benchmarks[0].extra_info.module: a string holds a lone surrogate",
    ),
    "skipped entry without reason": (
        _edit(lambda d: _set(d, "rnnref.skipped.0", {"case": "x"})),
        "rnnref.skipped[0] lacks 'reason'",
    ),
}

FINDINGS_CASES = {
    "probes.recurrent a string": (
        _edit(lambda d: _set(d, "probes.recurrent", "gru")),
        "'probes.recurrent' must be an array, not a string 'gru'",
    ),
    "probe record a number": (
        _edit(lambda d: _set(d, "probes.recurrent.0", 3)),
        "'probes.recurrent[0]' must be an object, not a number 3",
    ),
    "end curve of strings": (
        _edit(lambda d: _set(d, "probes.recurrent.0.end_curve.1", "0.5")),
        "'probes.recurrent[0].end_curve[1]' must be a number or a null",
    ),
    "input a list": (
        _edit(lambda d: _set(d, "probes.input", [8, 20, 8])),
        "'probes.input' must be an object, not an array",
    ),
    "training a number": (
        _edit(lambda d: _set(d, "probes.training", 3)),
        "'probes.training' must be an object or a null, not a number 3",
    ),
    "losses an object": (
        _edit(lambda d: _set(d, "probes.training.losses", {})),
        "'probes.training.losses' must be an array, not an object",
    ),
    "grad norm a string": (
        _edit(lambda d: _set(d, "probes.whole_model.parameters.0.grad_norm", "big")),
        "'probes.whole_model.parameters[0].grad_norm' must be a number or a null",
    ),
    "histogram one edge short": (
        _edit(
            lambda d: d["probes"]["recurrent"][0]["saturation"]["gates"]["r"]["histogram"][
                "edges"
            ].pop()
        ),
        "probes.recurrent[0].saturation.gates.r.histogram: 20 edges for 20 counts",
    ),
    "gates differ between layers": (
        lambda d: json.dumps(_mismatched_gates()),
        "probes.recurrent[1].spectrum.blocks: gates ['q'] differ from ['i', 'f', 'g', 'o']",
    ),
    "evidence a list": (
        _edit(lambda d: _set(d, "findings.0.evidence", [])),
        "'findings[0].evidence' must be an object, not an array",
    ),
    "NaN loss": (_text_edit("probes.loss", "NaN"), "NaN is not a JSON number"),
    "100,000 deep": (
        lambda d: (
            '{"schema": "rnnref-findings/1", "probes": '
            + "{"
            + '"a": {' * 100_000
            + "}" * 100_001
            + "}"
        ),
        "nested too deeply",
    ),
}


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture, path, expected) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"reports: error: {path}: "), err
    assert expected in err, err


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_run_file_fields_are_one_line(tmp_path: pathlib.Path, capsys, case: str) -> None:
    make, expected = RUN_CASES[case]
    path = tmp_path / "r.json"
    path.write_text(make(SMOKE))
    out = tmp_path / "r.html"
    _one_line_exit_2(["bench", str(path), "-o", str(out)], capsys, path, expected)
    _one_line_exit_2(["compare", str(DATA / "smoke-run.json"), str(path)], capsys, path, expected)
    assert not out.exists()


@pytest.mark.parametrize("case", list(FINDINGS_CASES))
def test_bad_findings_fields_are_one_line(tmp_path: pathlib.Path, capsys, case: str) -> None:
    make, expected = FINDINGS_CASES[case]
    path = tmp_path / "findings.json"
    path.write_text(make(FINDINGS))
    out = tmp_path / "report.html"
    _one_line_exit_2(["diagnose", str(path), "-o", str(out)], capsys, path, expected)
    assert not out.exists()


def test_a_bad_line_of_a_partial_file_is_named(tmp_path: pathlib.Path, capsys) -> None:
    lines = (DATA / "smoke-run.partial.jsonl").read_text().splitlines()
    entry = json.loads(lines[4])
    entry["benchmark"]["stats"]["median"] = -1.0
    lines[4] = json.dumps(entry)
    path = tmp_path / "r.partial.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected = "line 5: benchmark.stats.median: -1.0 is not > 0"
    _one_line_exit_2(["bench", str(path)], capsys, path, expected)


def test_a_partial_header_with_nan_is_named(tmp_path: pathlib.Path, capsys) -> None:
    lines = (DATA / "smoke-run.partial.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"peak_gflops": ', '"peak_gflops": NaN, "x": ', 1)
    path = tmp_path / "r.partial.jsonl"
    path.write_text("\n".join(lines) + "\n")
    _one_line_exit_2(["bench", str(path)], capsys, path, "line 1: NaN is not a JSON number")


def test_a_null_saturation_fraction_renders_as_a_dash(tmp_path: pathlib.Path, capsys) -> None:
    """The writer stores a fraction it could not compute (no valid step) as null."""
    doc = copy.deepcopy(FINDINGS)
    record = doc["probes"]["recurrent"][0]
    record["saturation"]["gates"]["r"]["hard"] = None
    record["saturation"]["units"]["hard"] = None
    # no figures (slow to draw): the table row is what shows the fraction
    record["end_curve"] = record["grad_states_norm"] = None
    record["spectrum"]["blocks"] = {}
    for stats in [*record["saturation"]["gates"].values(), record["saturation"]["units"]]:
        stats["histogram"]["num"] = 0
    doc["probes"]["whole_model"]["parameters"] = []
    doc["probes"]["training"] = None
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(doc))
    assert main(["diagnose", str(path), "-o", str(tmp_path / "r.html")]) == 0
    assert "r: —" in (tmp_path / "r.html").read_text()
