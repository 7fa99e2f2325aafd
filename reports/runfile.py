"""The run-file schema: load and validate what ``python -m bench`` writes.

A run file is pytest-benchmark's JSON with a top-level ``"rnnref"`` object
(``schema``, ``preset``, ``peak_gflops``, ``skipped``, ``failed`` (rows refused
by the correctness gate: ``{case, error}``), ``versions``, ``gpu``,
``noise_warnings``) and, in every benchmark's ``extra_info``, the case fields
listed in DESIGN.md. While a run is in progress, bench appends one JSON object
per line to ``<run-id>.partial.jsonl``; each line has exactly one key:

- ``"header"``: ``{"rnnref": {...}, "machine_info": {...}}`` (first line),
- ``"benchmark"``: one entry as in the final ``"benchmarks"`` list (a row timed in
  several passes has a line per pass, each with its timings so far; the last counts),
- ``"skipped"``: ``{"case": ..., "reason": ...}``.

A truncated last line (the run was interrupted mid-write) is tolerated: the
rows before it are kept and the loaded run is marked ``partial``.

Both are checked against the published JSON Schema
``reports/schemas/rnnref-run-1.schema.json`` (a partial file line by line
against its ``header``, ``benchmark`` and ``skipped`` definitions), after
strict parsing (:mod:`reports.validate`).

:func:`load_run` returns the run as a dict shaped like the final run file,
plus ``"partial"`` (bool) and ``"source"`` (the path as given): a
:class:`RunDocument`, which Jupyter shows as a summary. Anything it
cannot use raises :class:`BadRunFile` with a one-line message naming the file.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from reports.errors import ReportError, read_input_text
from reports.validate import NotStrictJSON, check, loads

SCHEMA = "rnnref-run/1"
"""Schema this package writes and reads: ``"rnnref-run/<major>"``."""

_SCHEMA_PREFIX = "rnnref-run/"
_SCHEMA_MAJOR = 1
_SCHEMA_FILE = "rnnref-run-1.schema.json"

KEY_FIELDS: tuple[str, ...] = (
    "backend",
    "cell",
    "mode",
    "batch",
    "seq_len",
    "input_size",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "layout",
    "fill",
    "dtype",
    "device",
)
"""The fields of ``extra_info`` that identify a case across runs."""


class BadRunFile(ReportError):
    """A run file that cannot be used; ``str()`` is one line naming the file."""


class RunDocument(dict):
    """A loaded run: the dict :func:`load_run` describes, which Jupyter shows as a
    summary (environment in one line, rows with median time and error) and IPython's
    plain-text display in one line."""

    def _repr_html_(self) -> str:
        from reports.notebook import run_html

        return run_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from reports.notebook import run_text

        printer.text(run_text(self))


def case_key(bench: dict[str, Any]) -> tuple[Any, ...]:
    """The full key of one benchmark entry: its ``extra_info`` values for KEY_FIELDS."""
    info = bench["extra_info"]
    return tuple(info[field] for field in KEY_FIELDS)


def load_run(path: pathlib.Path | str) -> RunDocument:
    """Load and validate a run file (``.json``) or a partial file (``.jsonl``).

    Raises:
        BadRunFile: missing or unreadable file, broken, truncated or non-strict
            JSON, a JSON file that is not an rnnref run file, a newer schema, or
            a field the schema refuses (named by its JSON path).
    """
    path = pathlib.Path(path)
    text = read_input_text(path, BadRunFile, "run file")
    parse = _parse_partial if path.suffix == ".jsonl" else _parse_final
    run = RunDocument(parse(path, text))
    run["source"] = str(path)
    return run


def _parse_final(path: pathlib.Path, text: str) -> dict[str, Any]:
    try:
        doc = loads(text)
    except json.JSONDecodeError as exc:
        if _unclosed(text):
            raise BadRunFile(path, "truncated JSON (the file ends mid-document)") from None
        raise BadRunFile(
            path, f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except NotStrictJSON as exc:
        raise BadRunFile(path, str(exc)) from None
    if not isinstance(doc, dict):
        raise BadRunFile(path, f"not a run file (top level is a JSON {_json_type(doc)})")
    if "rnnref" not in doc:
        hint = " (a plain pytest-benchmark file?)" if "benchmarks" in doc else ""
        raise BadRunFile(path, f"not an rnnref run file: no top-level 'rnnref' object{hint}")
    _check_version(path, doc["rnnref"])
    _check(path, doc)
    doc["partial"] = False
    return doc


def _parse_partial(path: pathlib.Path, text: str) -> dict[str, Any]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    header: dict[str, Any] = {}  # the first line, always a checked header
    benchmarks: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for index, (lineno, line) in enumerate(lines):
        try:
            entry = loads(line)
        except json.JSONDecodeError:
            if index == len(lines) - 1 and index > 0:
                break  # interrupted mid-write: keep the rows before it
            raise BadRunFile(path, f"broken JSON on line {lineno}") from None
        except NotStrictJSON as exc:
            raise BadRunFile(path, f"line {lineno}: {exc}") from None
        if not isinstance(entry, dict) or len(entry) != 1:
            raise BadRunFile(
                path, f"line {lineno} is not a partial-file entry (one key per line expected)"
            )
        ((kind, value),) = entry.items()
        if index == 0 and kind != "header":
            raise BadRunFile(path, "not an rnnref partial file: the first line is not a header")
        if kind not in ("header", "benchmark", "skipped") or (kind == "header") != (index == 0):
            raise BadRunFile(path, f"line {lineno}: unexpected entry {_short_key(kind)}")
        if kind == "header" and isinstance(value, dict):
            _check_version(path, value.get("rnnref"))
        _check(path, value, kind, f"line {lineno}: {kind}")
        if kind == "header":
            header = value
        elif kind == "benchmark":
            benchmarks.append(value)
        else:
            skipped.append(value)
    rnnref = dict(header["rnnref"])
    rnnref["skipped"] = list(rnnref.get("skipped") or []) + skipped
    return {
        "rnnref": rnnref,
        "machine_info": header.get("machine_info") or {},
        "benchmarks": _last_per_case(benchmarks),
        "partial": True,
    }


def _last_per_case(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row timed in several passes has one line per pass, each holding all its timings
    so far: keep the last line of each case, in the order the cases first appeared."""
    rows: dict[Any, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        rows[entry["extra_info"].get("case", index)] = entry
    return list(rows.values())


def _check(path: pathlib.Path, doc: Any, ref: str = "", prefix: str = "") -> None:
    """Raise BadRunFile naming the first field the run-file schema refuses."""
    problem = check(doc, _SCHEMA_FILE, ref, prefix)
    if problem:
        raise BadRunFile(path, problem)


def _check_version(path: pathlib.Path, meta: Any) -> None:
    """A foreign or newer ``rnnref.schema`` gets its own message, before the schema check."""
    if not isinstance(meta, dict):
        return  # the schema check names it
    schema = meta.get("schema")
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_PREFIX):
        raise BadRunFile(path, f"not an rnnref run file: unknown schema {_short_key(schema)}")
    try:
        major = int(schema[len(_SCHEMA_PREFIX) :].split(".")[0])
    except ValueError:
        raise BadRunFile(path, f"unknown schema version {_short_key(schema)}") from None
    if major > _SCHEMA_MAJOR:
        raise BadRunFile(
            path,
            f"newer schema {_short_key(schema)} than this reader knows ({SCHEMA}); update rnnref",
        )


def _short_key(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _unclosed(text: str) -> bool:
    """True when ``text`` ends inside a string or with brackets still open (a cut-off file)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)
