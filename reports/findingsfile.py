"""The findings-file schema: what ``python -m diagnostics`` writes and reports render.

Top level (DESIGN.md, "diagnostics")::

    {"schema": "rnnref-findings/1", "target": "model.py:build",
     "modules": [...], "probes": {...}, "findings": [...]}

- ``modules``: one object per recurrent module found (``name``, ``type``,
  ``mode``, sizes, ``num_layers``, ``bidirectional``, ``batch_first``,
  ``calls``, ``packed``, ``replay_dtype`` (``float32``, or ``float64`` when
  float32 did not agree or overflowed), ``replay_agreement`` (relative error
  of the rnnref replay's input gradient against torch's), ``replay_agreement_float64`` and
  ``replay_agreement_short`` (the fallback checks, null when not needed),
  ``replay_trusted``, ``replay_error``, ``flush_denormal``: the measured cure of a
  subnormal gradient, or null).
- ``probes``: ``input``, ``call``, ``output``, ``objective``, ``loss``,
  ``seed``; ``recurrent``: one object per module, layer and direction with
  ``module``, ``cell``, ``layer``, ``direction``, ``steps``,
  ``grad_states_norm`` (per step, real gradient), ``end_curve`` (per step
  back from the end of that layer's own recurrence, 1 at the end),
  ``decay_per_step``, ``horizon`` (steps until a 1000-fold fall, null if
  never), ``growth``, ``spectrum``, ``step_jacobian``, ``saturation``,
  ``dead_units``, ``nonfinite``; ``whole_model``: ``parameters`` (``name``,
  ``weight_norm``, ``grad_norm``, ``ratio``, ...) and ``global_grad_norm``;
  ``nonfinite``; ``training`` (None without ``--steps``: else ``losses``,
  ``grad_norms``, ``suggested_clip``, ``clip_fraction``, ``loss_spikes``);
  ``runtime`` (``threads``, ``cores``, ``anomaly_detection``, ``flush_denormal``).
- ``findings``: objects with ``code`` (e.g. ``vanishing-gradient``),
  ``severity`` (``info``, ``warning``, ``error``), ``module`` (name or
  None for the whole model), ``summary`` (one sentence), ``evidence`` (an
  object of numbers and short strings) and ``advice`` (a sentence a user can
  apply).

Numbers that are not finite are written as ``null``. The published JSON Schema
``reports/schemas/rnnref-findings-1.schema.json`` holds every field above with
its type; files are parsed strictly (:mod:`reports.validate`). :func:`load_findings`
returns the document (a :class:`FindingsDocument`: a dict that Jupyter shows as a
summary); anything it cannot use raises :class:`BadFindingsFile`
with a one-line message naming the file. :func:`validate` checks a document
in memory; :func:`dump_findings` validates and writes one (the diagnostics
use it).
"""

from __future__ import annotations

import itertools
import json
import pathlib
from typing import Any

from reports.errors import ReportError, read_input_text
from reports.output import write_atomic
from reports.validate import NotStrictJSON, check, json_path, loads

SCHEMA = "rnnref-findings/1"
"""Schema this package writes and reads: ``"rnnref-findings/<major>"``."""

_SCHEMA_PREFIX = "rnnref-findings/"
_SCHEMA_MAJOR = 1
_SCHEMA_FILE = "rnnref-findings-1.schema.json"

SEVERITIES = ("info", "warning", "error")
"""Allowed severities, least severe first."""


def severity_counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    """How many findings of each severity, most severe first: ``{"error": n, "warning": n,
    "info": n}``."""
    return {s: sum(f.get("severity") == s for f in findings) for s in reversed(SEVERITIES)}


class BadFindingsFile(ReportError):
    """A findings file that cannot be used; ``str()`` is one line naming the file."""


class FindingsDocument(dict):
    """A findings document: the dict above (``doc["findings"]``, JSON as it is), which
    Jupyter shows as a summary (verdict, findings, recurrent modules) and IPython's
    plain-text display in one line."""

    def _repr_html_(self) -> str:
        from reports.notebook import findings_html

        return findings_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from reports.notebook import findings_text

        printer.text(findings_text(self))


def load_findings(path: pathlib.Path | str) -> FindingsDocument:
    """Read and validate a findings file.

    Raises:
        BadFindingsFile: missing or unreadable file, broken JSON, not a
            findings file, a newer schema, or a malformed part.
    """
    path = pathlib.Path(path)
    text = read_input_text(path, BadFindingsFile, "findings file")
    try:
        doc = loads(text)
    except json.JSONDecodeError as exc:
        raise BadFindingsFile(
            path, f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except NotStrictJSON as exc:
        raise BadFindingsFile(path, str(exc)) from None
    validate(doc, path)
    return FindingsDocument(doc)


def validate(doc: Any, source: pathlib.Path | str = "<findings>") -> None:
    """Check a findings document against the schema (and what a schema cannot say).

    Raises:
        BadFindingsFile: the first problem found, naming ``source`` and the field.
    """
    if not isinstance(doc, dict):
        raise BadFindingsFile(source, "not a findings file (top level is not an object)")
    schema = doc.get("schema")
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_PREFIX):
        raise BadFindingsFile(source, f"not a findings file: unknown schema {_short(schema)}")
    try:
        major = int(schema[len(_SCHEMA_PREFIX) :].split(".")[0])
    except ValueError:
        raise BadFindingsFile(source, f"unknown schema version {_short(schema)}") from None
    if major > _SCHEMA_MAJOR:
        raise BadFindingsFile(
            source,
            f"newer schema {_short(schema)} than this reader knows ({SCHEMA}); update rnnref",
        )
    problem = check(doc, _SCHEMA_FILE) or _histogram_problem(doc) or _gates_problem(doc)
    if problem:
        raise BadFindingsFile(source, problem)


def _histogram_problem(doc: dict[str, Any]) -> str | None:
    """Each histogram has one edge more than it has counts, and its edges increase."""
    places = []
    for i, record in enumerate(doc["probes"].get("recurrent") or []):
        where = f"probes.recurrent[{i}]"
        saturation = record["saturation"]
        for gate, stats in saturation["gates"].items():
            gate_path = json_path(["saturation", "gates", gate, "histogram"], where)
            places.append((gate_path, stats["histogram"]))
        if saturation.get("units"):
            places.append((f"{where}.saturation.units.histogram", saturation["units"]["histogram"]))
        if record["dead_units"]:
            places.append((f"{where}.dead_units.histogram", record["dead_units"]["histogram"]))
    for i, param in enumerate((doc["probes"].get("whole_model") or {}).get("parameters") or []):
        if param.get("grad_histogram"):
            where = f"probes.whole_model.parameters[{i}].grad_histogram"
            places.append((where, param["grad_histogram"]))
    for where, hist in places:
        edges, counts = hist["edges"], hist["counts"]
        if len(edges) != len(counts) + 1:
            return f"{where}: {len(edges)} edges for {len(counts)} counts (one more expected)"
        if any(b < a for a, b in itertools.pairwise(edges)):
            return f"{where}.edges: not in increasing order"
    return None


def _gates_problem(doc: dict[str, Any]) -> str | None:
    """The layers and directions of one module have the same W_hh gate blocks."""
    first: dict[str, list[str]] = {}
    for i, record in enumerate(doc["probes"].get("recurrent") or []):
        gates = list(record["spectrum"]["blocks"])
        if not gates:
            continue  # W_hh not finite: no blocks
        expected = first.setdefault(record["module"], gates)
        if gates != expected:
            return (
                f"probes.recurrent[{i}].spectrum.blocks: gates {_short(gates)} differ from "
                f"{_short(expected)} in the module's other layers"
            )
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def dump_findings(doc: dict[str, Any], path: pathlib.Path) -> None:
    """Validate ``doc`` and write it as strict JSON (no NaN), atomically.

    Raises:
        BadFindingsFile: the document is malformed, or holds a non-finite number.
        CannotWrite: the path cannot be written.
    """
    validate(doc, path)
    try:
        text = json.dumps(doc, indent=1, allow_nan=False)
    except ValueError as exc:
        raise BadFindingsFile(path, f"cannot be written as JSON: {exc}") from None
    write_atomic(path, text + "\n", "findings file")
