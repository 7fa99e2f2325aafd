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

:func:`load_run` returns the run as a dict shaped like the final run file,
plus ``"partial"`` (bool) and ``"source"`` (the path as given). Anything it
cannot use raises :class:`BadRunFile` with a one-line message naming the file.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from reports.errors import ReportError, read_input_text

SCHEMA = "rnnref-run/1"
"""Schema this package writes and reads: ``"rnnref-run/<major>"``."""

_SCHEMA_PREFIX = "rnnref-run/"
_SCHEMA_MAJOR = 1

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


def case_key(bench: dict[str, Any]) -> tuple[Any, ...]:
    """The full key of one benchmark entry: its ``extra_info`` values for KEY_FIELDS."""
    info = bench["extra_info"]
    return tuple(info[field] for field in KEY_FIELDS)


def load_run(path: pathlib.Path | str) -> dict[str, Any]:
    """Load and validate a run file (``.json``) or a partial file (``.jsonl``).

    Raises:
        BadRunFile: missing or unreadable file, broken or truncated JSON, a
            JSON file that is not an rnnref run file, or a newer schema.
    """
    path = pathlib.Path(path)
    text = read_input_text(path, BadRunFile, "run file")
    parse = _parse_partial if path.suffix == ".jsonl" else _parse_final
    run = parse(path, text)
    _validate(path, run)
    run["source"] = str(path)
    return run


def _parse_final(path: pathlib.Path, text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if _unclosed(text):
            raise BadRunFile(path, "truncated JSON (the file ends mid-document)") from None
        raise BadRunFile(
            path, f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict):
        raise BadRunFile(path, f"not a run file (top level is a JSON {_json_type(doc)})")
    if "rnnref" not in doc:
        hint = " (a plain pytest-benchmark file?)" if "benchmarks" in doc else ""
        raise BadRunFile(path, f"not an rnnref run file: no top-level 'rnnref' object{hint}")
    doc["partial"] = False
    return doc


def _parse_partial(path: pathlib.Path, text: str) -> dict[str, Any]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    header: dict[str, Any] | None = None
    benchmarks: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for index, (lineno, line) in enumerate(lines):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if index == len(lines) - 1 and header is not None:
                break  # interrupted mid-write: keep the rows before it
            raise BadRunFile(path, f"broken JSON on line {lineno}") from None
        if not isinstance(entry, dict) or len(entry) != 1:
            raise BadRunFile(
                path, f"line {lineno} is not a partial-file entry (one key per line expected)"
            )
        ((kind, value),) = entry.items()
        if kind == "header" and index == 0:
            header = value
        elif index == 0:
            raise BadRunFile(path, "not an rnnref partial file: the first line is not a header")
        elif kind == "benchmark":
            benchmarks.append(value)
        elif kind == "skipped":
            skipped.append(value)
        else:
            raise BadRunFile(path, f"line {lineno}: unknown entry {kind!r}")
    if not isinstance(header, dict) or not isinstance(header.get("rnnref"), dict):
        raise BadRunFile(path, "not an rnnref partial file: the header has no 'rnnref' object")
    rnnref = dict(header["rnnref"])
    rnnref["skipped"] = list(rnnref.get("skipped") or []) + skipped
    return {
        "rnnref": rnnref,
        "machine_info": header.get("machine_info") or {},
        "benchmarks": _last_per_case(benchmarks),
        "partial": True,
    }


def _last_per_case(entries: list[Any]) -> list[Any]:
    """A row timed in several passes has one line per pass, each holding all its timings
    so far: keep the last line of each case, in the order the cases first appeared."""
    rows: dict[Any, Any] = {}
    for index, entry in enumerate(entries):
        info = entry.get("extra_info") if isinstance(entry, dict) else None
        case = info.get("case") if isinstance(info, dict) else None
        rows[index if case is None else case] = entry
    return list(rows.values())


def _validate(path: pathlib.Path, run: dict[str, Any]) -> None:
    meta = run["rnnref"]
    if not isinstance(meta, dict):
        raise BadRunFile(path, "not an rnnref run file: 'rnnref' is not an object")
    _check_schema(path, meta.get("schema"))
    benchmarks = run.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise BadRunFile(path, "not a run file: no 'benchmarks' list")
    for i, bench in enumerate(benchmarks):
        where = f"benchmark {i + 1}"
        if not isinstance(bench, dict):
            raise BadRunFile(path, f"{where} is not an object")
        info = bench.get("extra_info")
        if not isinstance(info, dict):
            raise BadRunFile(path, f"{where} has no extra_info")
        missing = [field for field in KEY_FIELDS if field not in info]
        if missing:
            raise BadRunFile(path, f"{where} lacks extra_info keys: {', '.join(missing)}")
        stats = bench.get("stats")
        if not isinstance(stats, dict) or not isinstance(stats.get("median"), int | float):
            raise BadRunFile(path, f"{where} has no stats.median")
    skipped = meta.get("skipped") or []
    if not isinstance(skipped, list) or not all(
        isinstance(s, dict) and "case" in s and "reason" in s for s in skipped
    ):
        raise BadRunFile(path, "'rnnref.skipped' must be a list of {case, reason}")
    failed = meta.get("failed") or []
    if not isinstance(failed, list) or not all(
        isinstance(f, dict) and "case" in f and "error" in f for f in failed
    ):
        raise BadRunFile(path, "'rnnref.failed' must be a list of {case, error}")


def _check_schema(path: pathlib.Path, schema: Any) -> None:
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_PREFIX):
        raise BadRunFile(path, f"not an rnnref run file: unknown schema {schema!r}")
    try:
        major = int(schema[len(_SCHEMA_PREFIX) :].split(".")[0])
    except ValueError:
        raise BadRunFile(path, f"unknown schema version {schema!r}") from None
    if major > _SCHEMA_MAJOR:
        raise BadRunFile(
            path, f"newer schema {schema!r} than this reader knows ({SCHEMA}); update rnnref"
        )


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
