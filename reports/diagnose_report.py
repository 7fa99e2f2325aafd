"""The diagnose report: one findings file as a self-contained HTML page.

Sections: verdicts (findings, errors first, with evidence and advice), then
per recurrent module the gradient through time (log scale, per layer and
direction), singular values of W_hh against Pascanu's bound, gate and unit
saturation histograms, the per-layer probe table; the per-parameter gradient
norms; and the training curves when the diagnosis ran ``--steps``, or, for a
watched training loop (``diagnostics.watch``), the key numbers over its
sampled steps.
The figures are :mod:`reports.diagnose_plots`' (matplotlib, inline SVG); every string
from the file is escaped by the template's autoescape.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

from reports.diagnose_plots import (
    gradient_figure,
    history_figure,
    parameter_figure,
    saturation_figure,
    spectrum_figure,
    training_figure,
)
from reports.findingsfile import load_findings, severity_counts
from reports.render import write_html


def _evidence_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_evidence_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        shown = ", ".join(_evidence_text(v) for v in value[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    return "—" if value is None else str(value)


def build_context(doc: dict[str, Any], source: pathlib.Path) -> dict[str, Any]:
    """Everything the template shows, computed from a loaded findings document."""
    probes = doc["probes"]
    records = probes.get("recurrent") or []
    modules = []
    for module in doc["modules"]:
        mine = [r for r in records if r.get("module") == module["name"]]
        modules.append(
            {
                "info": module,
                "records": mine,
                "gradient": gradient_figure(mine),
                "spectrum": spectrum_figure(mine),
                "saturation": saturation_figure(mine),
            }
        )
    findings = [
        {**f, "evidence_items": [(k, _evidence_text(v)) for k, v in f["evidence"].items()]}
        for f in doc["findings"]
    ]
    counts = severity_counts(findings)
    whole = probes.get("whole_model") or {}
    return {
        "doc": doc,
        "source": source.name,
        "probes": probes,
        "findings": findings,
        "counts": counts,
        "modules": modules,
        "parameters": whole.get("parameters") or [],
        "global_grad_norm": whole.get("global_grad_norm"),
        "parameter_figure": parameter_figure(whole.get("parameters") or []),
        "training": probes.get("training"),
        "training_figure": training_figure(probes.get("training")),
        "watch": probes.get("watch"),
        "history_figure": history_figure((probes.get("watch") or {}).get("history")),
    }


def write_diagnose_report(findings_path: pathlib.Path, out_path: pathlib.Path) -> None:
    """Write the HTML report of the findings file ``findings_path`` to ``out_path``.

    Raises:
        reports.findingsfile.BadFindingsFile: the findings file cannot be used.
        reports.errors.CannotWrite: ``out_path`` cannot be written.
    """
    findings_path, out_path = pathlib.Path(findings_path), pathlib.Path(out_path)
    doc = load_findings(findings_path)
    write_html("diagnose.html.j2", out_path, **build_context(doc, findings_path))
