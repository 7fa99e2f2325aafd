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
  ``replay_trusted``, ``replay_error``).
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
  ``grad_norms``, ``suggested_clip``, ``clip_fraction``, ``loss_spikes``).
- ``findings``: objects with ``code`` (e.g. ``vanishing-gradient``),
  ``severity`` (``info``, ``warning``, ``error``), ``module`` (name or
  None for the whole model), ``summary`` (one sentence), ``evidence`` (an
  object of numbers and short strings) and ``advice`` (a sentence a user can
  apply).

Numbers that are not finite are written as ``null``. :func:`load_findings`
returns the document; anything it cannot use raises :class:`BadFindingsFile`
with a one-line message naming the file. :func:`validate` checks a document
in memory; :func:`dump_findings` validates and writes one (the diagnostics
use it).
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any

from reports.errors import CannotWrite, ReportError, read_input_text

SCHEMA = "rnnref-findings/1"
"""Schema this package writes and reads: ``"rnnref-findings/<major>"``."""

_SCHEMA_PREFIX = "rnnref-findings/"
_SCHEMA_MAJOR = 1

SEVERITIES = ("info", "warning", "error")
"""Allowed severities, least severe first."""

CODES = (
    "vanishing-gradient",
    "exploding-gradient",
    "saturation",
    "dead-units",
    "non-finite",
    "no-recurrent-layer",
    "layer-not-called",
    "repeated-calls",
    "replay-mismatch",
    "loss-spikes",
    "no-gradient",
    "truncated-gradient",
    "training-divergence",
    "loss-broadcast",
    "state-carries-graph",
)
"""Codes the diagnostics emit today; codes are added, never renamed (readers accept any)."""

FINDING_KEYS = ("code", "severity", "module", "summary", "evidence", "advice")


class BadFindingsFile(ReportError):
    """A findings file that cannot be used; ``str()`` is one line naming the file."""


def load_findings(path: pathlib.Path | str) -> dict[str, Any]:
    """Read and validate a findings file.

    Raises:
        BadFindingsFile: missing or unreadable file, broken JSON, not a
            findings file, a newer schema, or a malformed part.
    """
    path = pathlib.Path(path)
    text = read_input_text(path, BadFindingsFile, "findings file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadFindingsFile(
            path, f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    validate(doc, path)
    return doc


def validate(doc: Any, source: pathlib.Path | str = "<findings>") -> None:
    """Check the shape of a findings document.

    Raises:
        BadFindingsFile: the first problem found, naming ``source``.
    """

    def bad(problem: str) -> BadFindingsFile:
        return BadFindingsFile(source, problem)

    if not isinstance(doc, dict):
        raise bad("not a findings file (top level is not an object)")
    schema = doc.get("schema")
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_PREFIX):
        raise bad(f"not a findings file: unknown schema {schema!r}")
    try:
        major = int(schema[len(_SCHEMA_PREFIX) :].split(".")[0])
    except ValueError:
        raise bad(f"unknown schema version {schema!r}") from None
    if major > _SCHEMA_MAJOR:
        raise bad(f"newer schema {schema!r} than this reader knows ({SCHEMA}); update rnnref")
    for key, kind in (("target", str), ("modules", list), ("probes", dict), ("findings", list)):
        if not isinstance(doc.get(key), kind):
            raise bad(f"'{key}' must be a {kind.__name__.replace('str', 'string')}")
    for i, module in enumerate(doc["modules"]):
        if not isinstance(module, dict) or not isinstance(module.get("name"), str):
            raise bad(f"modules[{i}] must be an object with a 'name'")
    for i, finding in enumerate(doc["findings"]):
        _check_finding(finding, f"findings[{i}]", bad)
    for i, record in enumerate(doc["probes"].get("recurrent") or []):
        if not isinstance(record, dict) or not all(
            k in record for k in ("module", "layer", "direction")
        ):
            raise bad(f"probes.recurrent[{i}] must have module, layer and direction")
    training = doc["probes"].get("training")
    if training is not None and not isinstance(training, dict):
        raise bad("probes.training must be an object or null")


def _check_finding(finding: Any, where: str, bad: Any) -> None:
    if not isinstance(finding, dict):
        raise bad(f"{where} is not an object")
    missing = [k for k in FINDING_KEYS if k not in finding]
    if missing:
        raise bad(f"{where} lacks {', '.join(missing)}")
    if finding["severity"] not in SEVERITIES:
        raise bad(
            f"{where}: severity {finding['severity']!r} is not one of {', '.join(SEVERITIES)}"
        )
    for key in ("code", "summary", "advice"):
        if not isinstance(finding[key], str) or not finding[key]:
            raise bad(f"{where}: '{key}' must be a non-empty string")
    if finding["module"] is not None and not isinstance(finding["module"], str):
        raise bad(f"{where}: 'module' must be a string or null")
    if not isinstance(finding["evidence"], dict):
        raise bad(f"{where}: 'evidence' must be an object")


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".findings-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise CannotWrite(path, f"cannot write the findings file ({exc.strerror})") from None
