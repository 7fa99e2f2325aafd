"""Short summaries of the suite's results, for Jupyter's ``_repr_html_`` (and, in one
line, IPython's plain-text display, instead of the whole nested dict).

Three objects a user holds in Python render through these functions: a findings
document (:class:`reports.findingsfile.FindingsDocument`, from
``diagnostics.diagnose`` or :func:`reports.findingsfile.load_findings`), a loaded
run file (:class:`reports.runfile.RunDocument`), and a watched training loop
(``diagnostics.Monitor``, which passes :func:`watch_html` a plain summary). Each is
a fragment of a page, not the full report (``python -m reports`` writes that);
every string is escaped by the autoescaping environment of :mod:`reports.render`.
"""

from __future__ import annotations

from typing import Any

from reports.cases import flat_rows
from reports.environment import describe
from reports.findingsfile import SEVERITIES, severity_counts
from reports.render import environment

MOST_SEVERE_FIRST = tuple(reversed(SEVERITIES))
"""The order findings are listed in."""

MAX_ROWS = 40
"""Rows of a run shown in its summary; the rest are counted, not shown."""


def verdict(counts: dict[str, int]) -> str:
    """One line that says what a diagnosis found, from :func:`severity_counts`."""
    if counts["error"]:
        return "errors found: this model has a problem that harms or stops training"
    if counts["warning"]:
        return "warnings: check them before trusting a long training run"
    return "no error or warning"


def _ordered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {s: i for i, s in enumerate(MOST_SEVERE_FIRST)}
    return sorted(findings, key=lambda f: rank.get(f.get("severity"), len(rank)))


def findings_text(doc: dict[str, Any]) -> str:
    """A findings document in one line, for IPython's plain-text display."""
    counts = severity_counts(doc.get("findings") or [])
    return (
        f"findings document of {doc.get('target')!r}: {verdict(counts)} ({counts['error']} "
        f"error(s), {counts['warning']} warning(s), {counts['info']} note(s)); a dict with "
        f"{', '.join(map(repr, doc))}"
    )


def findings_html(doc: dict[str, Any]) -> str:
    """A findings document as HTML: target, verdict, findings table, recurrent modules."""
    findings = _ordered(doc.get("findings") or [])
    counts = severity_counts(findings)
    return (
        environment()
        .get_template("notebook_findings.html.j2")
        .render(
            target=doc.get("target"),
            counts=counts,
            verdict=verdict(counts),
            findings=findings,
            modules=doc.get("modules") or [],
        )
    )


def run_text(run: dict[str, Any]) -> str:
    """A loaded run in one line, for IPython's plain-text display."""
    meta = run.get("rnnref") or {}
    return (
        f"run {meta.get('run_id') or run.get('source')!r}: {len(run.get('benchmarks') or [])} "
        f"row(s) timed, {len(meta.get('skipped') or [])} skipped, "
        f"{len(meta.get('failed') or [])} failed; a dict with {', '.join(map(repr, run))}"
    )


def run_html(run: dict[str, Any]) -> str:
    """A loaded run file as HTML: its environment in one line and its rows (at most
    :data:`MAX_ROWS`), with median time and error against the float64 reference."""
    rows = flat_rows(run)
    meta = run.get("rnnref") or {}
    environment_line = " · ".join(
        f"{label}: {text}" for label, text in describe(run).items() if text != "—"
    )
    return (
        environment()
        .get_template("notebook_run.html.j2")
        .render(
            run_id=meta.get("run_id") or run.get("source"),
            partial=run.get("partial", False),
            environment_line=environment_line,
            rows=rows[:MAX_ROWS],
            hidden_rows=max(len(rows) - MAX_ROWS, 0),
            skipped=len(meta.get("skipped") or []),
            failed=len(meta.get("failed") or []),
        )
    )


def watch_html(summary: dict[str, Any]) -> str:
    """A watched training loop as HTML.

    summary: ``model`` (class name), ``log_dir``, ``every``, ``steps_seen``,
    ``sampled_steps`` (list of step indices), ``closed`` (bool), ``latest`` (the last
    sampled step's key numbers, as in ``probes.watch.history``, or None) and
    ``findings`` (the findings so far, each with ``severity``, ``code``, ``module``,
    ``summary``).
    """
    findings = _ordered(summary["findings"])
    return (
        environment()
        .get_template("notebook_watch.html.j2")
        .render(**{**summary, "findings": findings, "counts": severity_counts(findings)})
    )
