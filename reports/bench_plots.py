"""The bench report's figures, as inline SVG; each returns None when the run has no data for it.

Backends keep one colour across all figures (:func:`colours`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator, ScalarFormatter

from reports import svg
from reports.cases import SHAPE_FIELDS, shape_label, variants

Row = dict[str, Any]
_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def colours(rows: list[Row]) -> dict[str, str]:
    """A fixed colour per backend, in sorted backend order."""
    backends = sorted({r["backend"] for r in rows})
    return {b: _PALETTE[i % len(_PALETTE)] for i, b in enumerate(backends)}


def _batch_sweeps(rows: list[Row]) -> dict[tuple[str, str], tuple[str, list[Row]]]:
    """Per (cell, mode): the most measured full-length padded shape and its rows."""
    full = [r for r in rows if r["layout"] == "padded" and r["fill"] == 1]
    by_facet: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in full:
        by_facet[(r["cell"], r["mode"])][shape_label(r)] += 1
    sweeps = {}
    for facet, counts in sorted(by_facet.items()):
        shape = counts.most_common(1)[0][0]
        chosen = [r for r in full if (r["cell"], r["mode"]) == facet and shape_label(r) == shape]
        if len({r["batch"] for r in chosen}) > 1:
            sweeps[facet] = (shape, chosen)
    return sweeps


def quartiles(row: Row) -> tuple[float, float]:
    """The first and third quartile of a row's raw timings (its median twice without them)."""
    data = row.get("data") or [row["median"]]
    q1, q3 = np.percentile(np.asarray(data, dtype=float), [25, 75])
    return float(q1), float(q3)


def against_batch(rows: list[Row], y: str, ylabel: str, log_y: bool = True) -> Markup | None:
    """One panel per (cell, mode): ``y`` against batch, one line per backend.

    Latency panels shade each line's interquartile range; a point whose row is
    unreliable (``row["unreliable"]``, :mod:`reports.headline`) is drawn hollow."""
    sweeps = _batch_sweeps(rows)
    if not sweeps:
        return None
    colour = colours(rows)
    ncols = 2 if len(sweeps) > 1 else 1
    nrows = math.ceil(len(sweeps) / ncols)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(sweeps) :]:
            ax.set_visible(False)
        for ax, ((cell, mode), (shape, chosen)) in zip(axes.flat, sweeps.items(), strict=False):
            lines: dict[str, list[Row]] = defaultdict(list)
            for r in chosen:
                lines[r["backend"]].append(r)
            for backend, points in sorted(lines.items()):
                points.sort(key=lambda r: r["batch"])
                values = [r[y] * (1e3 if y == "median" else 1) for r in points]
                batches = [r["batch"] for r in points]
                ax.plot(
                    batches,
                    values,
                    marker="o",
                    ms=3,
                    label=svg.plain(backend),
                    color=colour[backend],
                )
                if y == "median":
                    q1, q3 = zip(*(quartiles(r) for r in points), strict=True)
                    ax.fill_between(
                        batches,
                        [v * 1e3 for v in q1],
                        [v * 1e3 for v in q3],
                        color=colour[backend],
                        alpha=0.15,
                        lw=0,
                    )
                shaky = [
                    (b, v)
                    for b, v, r in zip(batches, values, points, strict=True)
                    if r.get("unreliable")
                ]
                if shaky:
                    ax.plot(
                        *zip(*shaky, strict=True),
                        ls="none",
                        marker="o",
                        ms=6,
                        mfc="white",
                        color=colour[backend],
                    )
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted({r["batch"] for r in chosen}))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(NullLocator())
            if log_y:
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(svg.plain(f"{cell} {mode}\n{shape}"), fontsize=8)
            ax.set_xlabel("batch")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)

    return svg.render(draw, width=8.0, height=2.6 * nrows + 0.4)


def packing_speedup(rows: list[Row]) -> Markup | None:
    """Padded time over packed time against fill, one line per case."""
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for group in variants(rows, "layout"):
        if "packed" in group and "padded" in group:
            packed, padded = group["packed"], group["padded"]
            fields = (
                "backend",
                "cell",
                "mode",
                "batch",
                *(f for f in SHAPE_FIELDS if f not in ("layout", "fill")),
            )
            lines[shape_label(packed, fields)].append(
                (packed["fill"], padded["median"] / packed["median"])
            )
    if not lines:
        return None

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        for label, points in sorted(lines.items()):
            points.sort()
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.plot(xs, ys, marker="o", ms=3, label=svg.plain(label))
        ax.axhline(1.0, color="#555", lw=0.8, ls="--")
        ax.set_xlabel("fill (mean length / max length)")
        ax.set_ylabel("padded time / packed time")
        ax.legend(fontsize=7)

    return svg.render(draw, width=7.5, height=3.6)


def int8_tradeoff(rows: list[Row]) -> Markup | None:
    """int8 speedup over torch eager against int8's relative error (inference).

    Each point is labelled with its batch; its bar spans the speedup over int8's
    interquartile range; an unreliable int8 or torch row is drawn hollow."""
    points: dict[str, list[tuple[float, float, float, float, int, bool]]] = defaultdict(list)
    for group in variants(rows, "backend"):
        if "int8" in group and "torch" in group and group["int8"]["mode"] == "inference":
            int8, torch_row = group["int8"], group["torch"]
            err = int8.get("rel_err")
            if isinstance(err, int | float) and err > 0:
                q1, q3 = quartiles(int8)
                base = torch_row["median"]
                shaky = bool(int8.get("unreliable") or torch_row.get("unreliable"))
                points[int8["cell"]].append(
                    (err, base / int8["median"], base / q3, base / q1, int8["batch"], shaky)
                )
    if not points:
        return None

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        for index, (cell, pts) in enumerate(sorted(points.items())):
            colour = _PALETTE[index % len(_PALETTE)]
            for err, speedup, low, high, batch, shaky in pts:
                ax.errorbar(
                    err,
                    speedup,
                    yerr=[[speedup - low], [high - speedup]],
                    fmt="o",
                    ms=5,
                    color=colour,
                    mfc="white" if shaky else colour,
                    capsize=2,
                    lw=0.8,
                )
                ax.annotate(
                    f"b{batch}",
                    (err, speedup),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=7,
                )
            ax.plot([], [], "o", color=colour, label=svg.plain(cell))
        ax.axhline(1.0, color="#555", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}"))
        ax.set_xlabel("int8 relative error against the float64 reference")
        ax.set_ylabel("speedup over torch eager fp32")
        ax.legend(fontsize=7)

    return svg.render(draw, width=6.5, height=3.4)
