"""The diagnose report's figures, as inline SVG; each returns None when the findings have no
data for it.

Per recurrent module: the gradient through time (log scale, per layer and direction),
singular values of W_hh against Pascanu's bound, gate and unit saturation histograms; for
the whole model the per-parameter gradient norms, the training curves of ``--steps`` and
the key numbers over a watched loop's sampled steps.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from matplotlib.figure import Figure

from reports.svg import render

Record = dict[str, Any]


def _label(record: Record) -> str:
    return f"layer {record['layer']} {'reverse' if record['direction'] else 'forward'}"


def _positive(values: list[float | None]) -> tuple[list[int], list[float]]:
    """Indices and values that can be drawn on a log axis."""
    pairs = [(i, v) for i, v in enumerate(values) if v is not None and v > 0]
    return [i for i, _ in pairs], [v for _, v in pairs]


def gradient_figure(records: list[Record]) -> Markup | None:
    """Left: gradient from the end against steps back; right: ||dL/dh_t|| against t (log y)."""
    if not any(r.get("end_curve") for r in records):
        return None

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        for record in records:
            xs, ys = _positive(record.get("end_curve") or [])
            if xs:
                line = left.plot(xs, ys, label=_label(record))[0]
                if record.get("horizon") is not None:
                    left.axvline(record["horizon"], color=line.get_color(), ls=":", lw=1)
            xs, ys = _positive(record.get("end_cell_curve") or [])
            if xs:
                left.plot(xs, ys, ls="--", lw=1, label=f"{_label(record)} (cell)")
            xs, ys = _positive(record.get("grad_states_norm") or [])
            if xs:
                right.plot(xs, ys, label=_label(record))
        left.axhline(1e-3, color="#cf222e", lw=1, ls="--", label="1000-fold fall")
        left.set(
            yscale="log",
            xlabel="steps back from the end",
            ylabel="relative ||dL/dh||",
            title="gradient from the last step",
        )
        right.set(
            yscale="log",
            xlabel="time step t",
            ylabel="||dL/dh_t||",
            title="with the model's upstream gradient",
        )
        left.legend(fontsize=7)
        if right.lines:
            right.legend(fontsize=7)

    return render(draw, width=9.0, height=3.4)


def spectrum_figure(records: list[Record]) -> Markup | None:
    """Largest singular value of each W_hh gate block, with 1/gamma as a red bar."""
    blocks = [r for r in records if (r.get("spectrum") or {}).get("blocks")]
    if not blocks:
        return None
    gates = list(blocks[0]["spectrum"]["blocks"])

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        width = 0.8 / len(blocks)
        for i, record in enumerate(blocks):
            values = [record["spectrum"]["blocks"][g]["sigma_max"] or 0.0 for g in gates]
            xs = [k + (i - (len(blocks) - 1) / 2) * width for k in range(len(gates))]
            ax.bar(xs, values, width=width, label=_label(record))
        for k, gate in enumerate(gates):
            bound = blocks[0]["spectrum"]["blocks"][gate]["bound"]
            ax.hlines(bound, k - 0.45, k + 0.45, color="#cf222e", lw=2)
        ax.set_xticks(range(len(gates)), [f"W_h{g}" for g in gates])
        ax.set(ylabel="largest singular value", title="W_hh blocks against 1/gamma (red)")
        ax.legend(fontsize=7)

    return render(draw, width=7.0, height=3.0)


def _saturation_panels(record: Record) -> list[tuple[str, dict]]:
    sat = record.get("saturation") or {}
    panels = [(f"gate {g}", s["histogram"]) for g, s in (sat.get("gates") or {}).items()]
    if sat.get("units"):
        panels.append(("tanh states h", sat["units"]["histogram"]))
    if record.get("dead_units"):
        panels.append(("ReLU states h", record["dead_units"]["histogram"]))
    return [(title, hist) for title, hist in panels if hist and hist.get("num")]


def saturation_figure(records: list[Record]) -> Markup | None:
    """Histograms of each gate's activations (and tanh/ReLU states): a row per layer/direction."""
    rows = [(record, _saturation_panels(record)) for record in records]
    rows = [(record, panels) for record, panels in rows if panels]
    if not rows:
        return None
    columns = max(len(panels) for _, panels in rows)

    def draw(fig: Figure) -> None:
        grid = fig.subplots(len(rows), columns, squeeze=False)
        for axes, (record, panels) in zip(grid, rows, strict=True):
            for ax, (title, hist) in zip(axes, panels, strict=False):
                total = max(sum(hist["counts"]), 1)
                ax.stairs([c / total for c in hist["counts"]], hist["edges"], fill=True)
                ax.set_title(f"{_label(record)}: {title}", fontsize=8)
            for ax in axes[len(panels) :]:
                ax.set_visible(False)
            axes[0].set_ylabel("fraction")

    return render(draw, width=min(2.2 * columns + 1, 9.5), height=1.9 * len(rows) + 0.4)


def parameter_figure(parameters: list[Record]) -> Markup | None:
    """Horizontal bars: gradient norm and gradient/weight ratio per parameter (log x)."""
    rows = [p for p in parameters if p.get("grad_norm")]
    if not rows:
        return None

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2, sharey=True)
        names = [p["name"] for p in rows]
        left.barh(names, [p["grad_norm"] for p in rows])
        right.barh(names, [p["ratio"] or 0.0 for p in rows], color="#8250df")
        left.set(xscale="log", xlabel="||grad||", title="gradient norm")
        right.set(xscale="log", xlabel="||grad|| / ||weight||", title="update scale")
        left.invert_yaxis()

    return render(draw, width=9.0, height=max(1.6, 0.22 * len(rows) + 1.0))


def training_figure(training: Record | None) -> Markup | None:
    """Loss and global gradient norm per step, with the suggested clipping threshold."""
    if not training or not training.get("losses"):
        return None

    steps = training.get("sampled_steps")  # a watched run: losses at these training steps
    if not isinstance(steps, list) or len(steps) != len(training["losses"]):
        steps = None

    def at_steps(values: list[float | None]) -> tuple[list[int], list[float]]:
        xs, ys = _positive(values)
        return ([steps[i] for i in xs] if steps else xs), ys

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        xs, ys = at_steps(training["losses"])
        left.plot(xs, ys, marker="." if steps else None)
        for step in training.get("loss_spikes") or []:
            left.axvline(step, color="#cf222e", ls=":", lw=1)
        left.set(yscale="log", xlabel="step", ylabel="loss", title="loss")
        xs, ys = at_steps(training["grad_norms"])
        right.plot(xs, ys, marker="." if steps else None)
        if training.get("suggested_clip"):
            right.axhline(
                training["suggested_clip"],
                color="#cf222e",
                ls="--",
                lw=1,
                label="suggested max_norm",
            )
            right.legend(fontsize=7)
        right.set(yscale="log", xlabel="step", ylabel="||grad||", title="global gradient norm")

    return render(draw, width=9.0, height=3.0)


def history_figure(history: list[Record] | None) -> Markup | None:
    """A watched run over its sampled training steps: horizon, saturation, spectrum, ||h_n||."""
    if not history or not any(h["layers"] for h in history):
        return None
    panels = (
        ("horizon", "steps", "horizon (1000-fold fall)"),
        ("saturation", "fraction", "hard-saturated activations"),
        ("sigma_over_bound", "ratio", "max sigma(W_hh block) / bound"),
        ("h_n_norm", "norm", "||h_n||"),
    )
    keys = list(
        dict.fromkeys(
            (r["module"], r["layer"], r["direction"]) for h in history for r in h["layers"]
        )
    )

    def draw(fig: Figure) -> None:
        axes = fig.subplots(1, len(panels))
        for ax, (field, unit, title) in zip(axes, panels, strict=True):
            for module, layer, direction in keys:
                xs, ys = [], []
                for entry in history:
                    for r in entry["layers"]:
                        same = (r["module"], r["layer"], r["direction"]) == (
                            module,
                            layer,
                            direction,
                        )
                        if same and r[field] is not None:
                            xs.append(entry["step"])
                            ys.append(r[field])
                label = f"{module} {_label({'layer': layer, 'direction': direction})}"
                ax.plot(xs, ys, marker=".", label=label)
            ax.set(xlabel="training step", ylabel=unit, title=title)
        axes[0].legend(fontsize=6)

    return render(draw, width=11.0, height=2.8)
