"""reports.runfile: final and partial run files load; bad ones fail with one clear line."""

from __future__ import annotations

import json
import pathlib

import pytest

from reports.runfile import KEY_FIELDS, SCHEMA, BadRunFile, case_key, load_run
from tests.reports import runfactory as rf


@pytest.fixture
def small_run() -> dict:
    return rf.run(
        [rf.benchmark(backend=b, batch=n, seed=n) for b in ("torch", "numpy") for n in (1, 16)],
        skipped=[{"case": "lstm-training-int8", "reason": "inference only"}],
    )


def test_final_run_file_loads(tmp_path: pathlib.Path, small_run: dict) -> None:
    run = load_run(rf.write(tmp_path / "r.json", small_run))
    assert run["partial"] is False
    assert run["source"] == str(tmp_path / "r.json")
    assert len(run["benchmarks"]) == 4
    assert run["rnnref"]["schema"] == SCHEMA
    keys = {case_key(b) for b in run["benchmarks"]}
    assert len(keys) == 4
    assert len(next(iter(keys))) == len(KEY_FIELDS)


def test_partial_file_loads_with_skips(tmp_path: pathlib.Path, small_run: dict) -> None:
    run = load_run(rf.write_partial(tmp_path / "r.partial.jsonl", small_run))
    assert run["partial"] is True
    assert len(run["benchmarks"]) == 4
    assert run["rnnref"]["skipped"] == [{"case": "lstm-training-int8", "reason": "inference only"}]
    assert run["machine_info"]["node"] == "testbox"


def test_truncated_last_line_keeps_rows_before(tmp_path: pathlib.Path) -> None:
    doc = rf.run([rf.benchmark(batch=n, seed=n) for n in (1, 2, 4)])
    run = load_run(rf.write_partial(tmp_path / "r.partial.jsonl", doc, cut_last=True))
    assert run["partial"] is True
    assert [b["extra_info"]["batch"] for b in run["benchmarks"]] == [1, 2]


def _write(tmp_path: pathlib.Path, name: str, text: str | bytes) -> pathlib.Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _newer(doc: dict) -> dict:
    doc["rnnref"]["schema"] = "rnnref-run/99"
    return doc


BAD_FILES = {
    "truncated": (lambda d: json.dumps(d)[:-40], "truncated JSON"),
    "broken": (lambda d: json.dumps(d).replace('"benchmarks":', '"benchmarks" ', 1), "broken JSON"),
    "foreign array": (lambda d: "[1, 2, 3]", "top level is a JSON array"),
    "plain pytest-benchmark": (
        lambda d: json.dumps({"benchmarks": d["benchmarks"]}),
        "no top-level 'rnnref' object (a plain pytest-benchmark file?)",
    ),
    "newer schema": (lambda d: json.dumps(_newer(d)), "newer schema 'rnnref-run/99'"),
    "foreign schema": (
        lambda d: json.dumps({**d, "rnnref": {**d["rnnref"], "schema": "other/1"}}),
        "unknown schema 'other/1'",
    ),
    "empty": (lambda d: "  \n", "empty file"),
    "binary": (lambda d: b"\x89PNG\r\n\x1a\n\xff\xfe", "not UTF-8"),
    "bad failed list": (
        lambda d: json.dumps({**d, "rnnref": {**d["rnnref"], "failed": ["x"]}}),
        "'rnnref.failed[0]' must be an object, not a string 'x'",
    ),
    "missing key field": (
        lambda d: json.dumps(d).replace('"hidden_size"', '"hidden"'),
        "benchmarks[0].extra_info lacks 'hidden_size'",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_run_files_name_the_file_and_the_problem(
    tmp_path: pathlib.Path, small_run: dict, kind: str
) -> None:
    make, expected = BAD_FILES[kind]
    path = _write(tmp_path, "run.json", make(small_run))
    with pytest.raises(BadRunFile) as info:
        load_run(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_partial_file_problems(tmp_path: pathlib.Path, small_run: dict) -> None:
    good = rf.write_partial(tmp_path / "good.partial.jsonl", small_run).read_text().splitlines()
    no_header = _write(tmp_path, "a.partial.jsonl", "\n".join(good[1:]))
    with pytest.raises(BadRunFile, match="first line is not a header"):
        load_run(no_header)
    middle = _write(tmp_path, "b.partial.jsonl", "\n".join([good[0], "{broken", *good[1:]]))
    with pytest.raises(BadRunFile, match="broken JSON on line 2"):
        load_run(middle)
    two_keys = _write(tmp_path, "c.partial.jsonl", "\n".join([good[0], '{"a": 1, "b": 2}']))
    with pytest.raises(BadRunFile, match="line 2 is not a partial-file entry"):
        load_run(two_keys)


def test_missing_file_and_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(BadRunFile, match="no such file"):
        load_run(tmp_path / "absent.json")
    with pytest.raises(BadRunFile, match="is a directory"):
        load_run(tmp_path)
