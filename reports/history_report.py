"""The history report: per machine, every case's trend over its runs and the newest
run's verdict, as one self-contained HTML page. The judgement lives in :mod:`reports.history`.
"""

from __future__ import annotations

import pathlib

import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from reports import svg
from reports.bench_plots import colours
from reports.history import HISTORY_Z, LOOKBACK, MIN_HISTORY, MachineHistory
from reports.render import write_html


def trend_plot(history: MachineHistory) -> Markup | None:
    """One panel per backend: each case's median over the machine's runs, relative to
    the case's median over them; regressed cases drawn thick and red."""
    backends = sorted({c.backend for c in history.cases})
    if len(history.runs) < 2 or not backends:
        return None
    colour = colours([{"backend": b} for b in backends])
    ncols = min(len(backends), 3)
    nrows = -(-len(backends) // ncols)
    x = np.arange(len(history.runs))

    def draw(fig: Figure) -> None:
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax in axes.flat[len(backends) :]:
            ax.set_visible(False)
        for ax, backend in zip(axes.flat, backends, strict=False):
            for c in history.cases:
                if c.backend != backend:
                    continue
                values = np.array(c.medians, dtype=float)
                values = values / np.nanmedian(values)
                style = {"color": "#cf222e", "lw": 1.8, "zorder": 3} if c.regressed else {}
                ax.plot(
                    x,
                    values,
                    color=style.get("color", colour[backend]),
                    alpha=0.7,
                    lw=style.get("lw", 0.8),
                    marker="o",
                    ms=2,
                    zorder=style.get("zorder", 2),
                )
            ax.set_title(svg.plain(backend), fontsize=9)
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(x)
            ax.set_xticklabels([str(i + 1) for i in x], fontsize=7)
        for ax in axes[:, 0]:
            ax.set_ylabel("median / case median")
        for ax in axes[-1, :]:
            ax.set_xlabel("run (table above)")

    return svg.render(draw, width=9.0, height=2.4 * nrows + 0.6)


def write_history_report(
    histories: list[MachineHistory], out_path: pathlib.Path, url: str, percent: float | None
) -> None:
    """Write the history report of ``histories`` (from :func:`reports.history.judge`).

    Raises:
        reports.errors.CannotWrite: ``out_path`` cannot be written.
    """
    write_html(
        "history.html.j2",
        pathlib.Path(out_path),
        histories=histories,
        failed=[h for h in histories if h.regressions()],
        figures={h.machine: trend_plot(h) for h in histories},
        url=url,
        percent=percent,
        history_z=HISTORY_Z,
        lookback=LOOKBACK,
        min_history=MIN_HISTORY,
    )
