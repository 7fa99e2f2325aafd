"""Property: random JSON mutations of real run, partial and findings files never give a
traceback, in the readers or in ``python -m reports bench|compare|diagnose``.

Either the file is accepted and the report renders, or it is refused with one line
naming the file (a ReportError; exit 2 from the command). Mutations: replace a node by
a random JSON value, give it another value of its own type (0, negative, huge,
non-finite numbers; HTML in strings; shorter lists), delete it, nest it deeper, change
its type, or cut the text short. ``HYPOTHESIS_PROFILE=fuzz`` runs many more examples;
the commands render, so they get a fifth of the profile's examples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import pathlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from reports import validate
from reports.__main__ import main
from reports.errors import ReportError
from reports.findingsfile import load_findings
from reports.runfile import load_run

DATA = pathlib.Path(__file__).with_name("data")
RUN = json.loads((DATA / "smoke-run.json").read_text())
PARTIAL = [json.loads(line) for line in (DATA / "smoke-run.partial.jsonl").read_text().splitlines()]
FINDINGS = [
    json.loads((DATA / name).read_text())
    for name in ("findings-gru_forecaster.json", "findings-bilstm_tagger.json")
]

COMMANDS = settings(max_examples=max(5, settings.default.max_examples // 5))
"""Each command example may render a report (about a second): a fifth of the profile."""

STRING = st.text(max_size=12) | st.sampled_from(
    ["<script>alert(1)</script>", "", "0", "1e400", "\u202e", "a\nb"]
)
LEAF = st.none() | st.booleans() | st.integers() | st.floats() | STRING
JSON = st.recursive(
    LEAF,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=8,
)
NUMBER = st.sampled_from([0, -1, 1, 0.0, -0.0, 1e-320, 1e300, -1e300, math.nan, math.inf, 2**70])


OPS = ("same type", "same type", "same type", "replace", "delete", "deepen", "other type")
"""Mutations, weighted towards files that still pass the schema and reach the renderer."""


def _paths(doc: Any) -> list[tuple[Any, ...]]:
    """Every node's path (the root is ``()``), without recursion."""
    paths, stack = [], [((), doc)]
    while stack:
        path, node = stack.pop()
        paths.append(path)
        if isinstance(node, dict):
            stack.extend(((*path, key), value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), value) for i, value in enumerate(node))
    return sorted(paths, key=lambda p: (len(p), repr(p)))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if path:
        del _get(doc, path[:-1])[path[-1]]
    return doc


def _same_type(draw: Callable, node: Any) -> Any:
    if isinstance(node, bool):
        return not node
    if isinstance(node, int | float):
        return draw(NUMBER | st.integers() | st.floats())
    if isinstance(node, str):
        return draw(STRING)
    if isinstance(node, list):
        cut = draw(st.integers(0, len(node)))
        return node[:cut] if draw(st.booleans()) else node[cut:] + node[:cut] * 2
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        return {k: v for k, v in node.items() if k != key}
    return node


def _other_type(node: Any) -> Any:
    if isinstance(node, bool):
        return int(node)
    if isinstance(node, int | float):
        return str(node)
    if isinstance(node, str):
        return {"value": node}
    if isinstance(node, list):
        return {str(i): v for i, v in enumerate(node)}
    if isinstance(node, dict):
        return list(node.values())
    return 0


@st.composite
def mutated(draw: Callable, doc: Any) -> Any:
    """``doc`` after one to three random mutations."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        node = _get(doc, path)
        op = draw(st.sampled_from(OPS))
        event(op)
        if op == "replace":
            doc = _put(doc, path, draw(JSON))
        elif op == "same type":
            doc = _put(doc, path, _same_type(draw, node))
        elif op == "delete":
            doc = _delete(doc, path)
        elif op == "deepen":
            for _ in range(draw(st.integers(1, 40))):
                node = [node] if draw(st.booleans()) else {"x": node}
            doc = _put(doc, path, node)
        else:
            doc = _put(doc, path, _other_type(node))
    return doc


def _cut(draw: Callable, text: str) -> str:
    """``text``, one time in ten cut short at a random place."""
    if draw(st.sampled_from(range(10))) == 9:  # 0, the simplest choice, comes up more
        event("cut short")
        return text[: draw(st.integers(0, len(text)))]
    return text


def _text(draw: Callable, doc: Any) -> str:
    return _cut(draw, json.dumps(doc))  # NaN and Infinity come out as JSON's constants


def _partial_text(draw: Callable, lines: Any) -> str:
    """One JSON object per line (a mutation of the root makes it a single line)."""
    lines = lines if isinstance(lines, list) else [lines]
    return _cut(draw, "".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("fuzz")


def _holds(load: Callable, path: pathlib.Path) -> None:
    try:
        load(path)
    except ReportError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        event("refused")
    else:
        event("accepted")


@given(st.data())
def test_run_reader_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / "run.json"
    path.write_text(_text(data.draw, data.draw(mutated(RUN))))
    _holds(load_run, path)


@given(st.data())
def test_partial_reader_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / "run.partial.jsonl"
    path.write_text(_partial_text(data.draw, data.draw(mutated(PARTIAL))))
    _holds(load_run, path)


@given(st.data())
def test_findings_reader_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / "findings.json"
    path.write_text(_text(data.draw, data.draw(st.sampled_from(FINDINGS).flatmap(mutated))))
    _holds(load_findings, path)


def _command_holds(argv: list[str], out: pathlib.Path, codes: tuple[int, ...] = (0,)) -> None:
    out.unlink(missing_ok=True)
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        code = main([*argv, "-o", str(out)])
    err = stderr.getvalue()
    if code == 2:
        assert err.startswith("reports: error: ") and err.count("\n") == 1, err
        event("exit 2")
    else:
        assert code in codes, (code, err)
        assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        event(f"rendered, exit {code}")


@COMMANDS
@given(st.data())
def test_bench_command_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / ("cmd.partial.jsonl" if data.draw(st.booleans()) else "cmd.json")
    if path.suffix == ".jsonl":
        path.write_text(_partial_text(data.draw, data.draw(mutated(PARTIAL))))
    else:
        path.write_text(_text(data.draw, data.draw(mutated(RUN))))
    _command_holds(["bench", str(path)], folder / "bench.html")


@COMMANDS
@given(st.data())
def test_compare_command_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / "new.json"
    path.write_text(_text(data.draw, data.draw(mutated(RUN))))
    pair = [str(DATA / "smoke-run.json"), str(path)]
    if data.draw(st.booleans()):
        pair.reverse()
    _command_holds(["compare", *pair, "--fail-above", "5"], folder / "compare.html", (0, 1))


@COMMANDS
@given(st.data())
def test_diagnose_command_never_tracebacks(folder: pathlib.Path, data: st.DataObject) -> None:
    path = folder / "cmd-findings.json"
    path.write_text(_text(data.draw, data.draw(st.sampled_from(FINDINGS).flatmap(mutated))))
    _command_holds(["diagnose", str(path)], folder / "diagnose.html")


@given(st.data())
def test_fast_validation_agrees_with_plain_jsonschema(data: st.DataObject) -> None:
    """reports.validate inlines $refs and loops over number arrays in Python: the verdict
    must be jsonschema's own on the published file."""
    name, doc = data.draw(
        st.sampled_from([("rnnref-run-1.schema.json", RUN)])
        | st.sampled_from(FINDINGS).map(lambda d: ("rnnref-findings-1.schema.json", d))
    )
    doc = data.draw(mutated(doc))
    schema = json.loads((validate.SCHEMAS / name).read_text())
    plain = jsonschema.Draft202012Validator(schema)
    assert (validate.check(doc, name) is None) == plain.is_valid(doc)
