"""The compare report: two run files side by side, case by case, as one HTML page.

Sections: the gate's verdict first when ``--fail-above`` was given (passed or
failed, and why), environment differences (and whether the runs come from
different machines, and each run's load average), summary counts, the sorted
ratio plot with intervals, how each library and backend moved, the table of
every shared case, and the cases found in only one run.
The statistics live in :mod:`reports.compare`.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from reports import svg
from reports.cases import case_label
from reports.compare import (
    CONFIDENCE,
    DRIFT_MIN_CASES,
    GATE_MIN_ROUNDS,
    GROUP_Z,
    NOISE_FLOOR,
    SPREAD_Z,
    CaseResult,
    Comparison,
    Gate,
    compare_runs,
)
from reports.render import check_output, fmt_num, write_html
from reports.runfile import load_run

_COLOURS = {"slower": "#cf222e", "faster": "#1a7f37", "unchanged": "#8c959f"}


LABELLED = 12
"""Most points the ratio plot names (the slowest of the cases the gate fails on, or else
the slowest and fastest cases called changed)."""


def _short(case: CaseResult) -> str:
    row = case.new
    return svg.plain(f"{row['backend']} {row['cell']} {row['mode']} b{row['batch']}")


def ratio_plot(result: Comparison, gate: Gate | None = None) -> Markup | None:
    """Every shared case's NEW/BASE ratio, sorted, with its bootstrap interval, and the
    band around the run-wide shift inside which a case counts as unchanged. The cases
    the gate fails on (else the changed ones) are named, at most LABELLED of them."""
    cases = sorted(result.cases, key=lambda c: c.ratio)
    if not cases:
        return None
    shift, band = result.drift.shift, result.drift.band

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ax.axhspan(
            shift / band,
            shift * band,
            color="#eaeef2",
            zorder=0,
            label=f"unchanged: within {band:.3f}x of the shift",
        )
        ax.axhline(1.0, color="#555", lw=0.8)
        if shift != 1.0:
            ax.axhline(shift, color="#555", lw=0.8, ls="--", label=f"run-wide shift {shift:.3f}x")
        for verdict, colour in _COLOURS.items():
            idx = [i for i, c in enumerate(cases) if c.verdict == verdict]
            if not idx:
                continue
            ratios = np.array([cases[i].ratio for i in idx])
            lows = np.nan_to_num(ratios - [cases[i].low for i in idx])
            highs = np.nan_to_num([cases[i].high for i in idx] - ratios)
            ax.errorbar(
                idx,
                ratios,
                yerr=[lows, highs],
                fmt="o",
                ms=3,
                color=colour,
                elinewidth=1,
                capsize=1.5,
                label=f"{verdict} ({len(idx)})",
            )
        failing = {id(c) for c in gate.cases} if gate else set()
        named = [i for i, c in enumerate(cases) if id(c) in failing]
        if not named:
            named = [i for i, c in enumerate(cases) if c.verdict != "unchanged"]
        for i in sorted(named, key=lambda i: -abs(math.log(cases[i].relative)))[:LABELLED]:
            ax.annotate(
                _short(cases[i]),
                (i, cases[i].ratio),
                xytext=(0, 6),
                textcoords="offset points",
                rotation=70,
                fontsize=6,
                color=_COLOURS[cases[i].verdict],
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("case, sorted by ratio")
        ax.set_ylabel(f"NEW / BASE median (with {CONFIDENCE:.0%} interval)")
        ax.legend(fontsize=7, loc="upper left")

    return svg.render(draw, width=8.0, height=3.8)


def load_average(run: dict) -> str:
    """The run's 1-minute load average at its start and end, in words ('—' if unknown)."""
    load = run["rnnref"].get("load_average")
    if not isinstance(load, dict):
        return "—"
    start, end = load.get("start"), load.get("end")
    cores = ((run.get("machine_info") or {}).get("cpu") or {}).get("count")
    text = f"{fmt_num(start)} at the start, {fmt_num(end)} at the end"
    return text + (f" (on {cores} CPUs)" if cores else "")


def write_compare_report(
    base_path: pathlib.Path,
    new_path: pathlib.Path,
    out_path: pathlib.Path,
    fail_above: float | None = None,
) -> Comparison:
    """Compare the run files ``base_path`` and ``new_path``, write the report, return the result.

    With ``fail_above`` (a percentage) the report opens with the gate's verdict.

    Raises:
        reports.runfile.BadRunFile: either run file cannot be used.
        reports.errors.CannotWrite: ``out_path`` cannot be written.
    """
    base = load_run(base_path)
    new = load_run(new_path)
    check_output(pathlib.Path(out_path))
    result = compare_runs(base, new)
    gate = None if fail_above is None else result.gate(fail_above)
    write_html(
        "compare.html.j2",
        pathlib.Path(out_path),
        result=result,
        base_name=pathlib.Path(base_path).name,
        new_name=pathlib.Path(new_path).name,
        partial=[name for name, run in ((base_path, base), (new_path, new)) if run["partial"]],
        figure=ratio_plot(result, gate),
        gate=gate,
        loads=(load_average(base), load_average(new)),
        groups=result.groups(),
        case_label=case_label,
        noise_floor=NOISE_FLOOR,
        confidence=CONFIDENCE,
        spread_z=SPREAD_Z,
        drift_min_cases=DRIFT_MIN_CASES,
        group_z=GROUP_Z,
        gate_min_rounds=GATE_MIN_ROUNDS,
    )
    return result
