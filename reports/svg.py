"""Matplotlib figures as inline SVG for self-contained HTML.

Use :func:`render`: it builds a figure (no pyplot, no global state), lets a
drawing function fill it, and returns the SVG markup ready to place in a
template. Text is kept as SVG ``<text>`` (escaped by matplotlib's SVG writer)
and the output is deterministic (fixed hash salt, no date). Pass every string
that came from a file through :func:`plain`, so a ``$`` in it is drawn as is
instead of starting matplotlib mathtext.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, LogFormatterSciNotation

_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
"""matplotlib's RDF metadata block: namespace URLs and a creator tag a report does not need."""

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "rnnref-reports",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class _Powers(LogFormatter):
    """Log-axis tick labels as plain text, ``10⁻³`` and ``2x10⁻³`` (with a multiplication
    sign), on the ticks matplotlib's own log formatter labels. Its labels are mathtext,
    whose parsing took a third of a report figure's time."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        base = self._base
        exponent = math.floor(math.log(x, base) + 1e-9)
        coefficient = round(x / base**exponent)
        power = f"{base:g}" + str(exponent).translate(_SUPERSCRIPT)
        return power if coefficient == 1 else f"{coefficient}\N{MULTIPLICATION SIGN}{power}"


def _plain_log_labels(fig: Figure) -> None:
    """The log axes of ``fig`` that kept matplotlib's own labels (mathtext) labelled by
    :class:`_Powers` instead, as the log scale sets its formatters: decades for major
    ticks, minor ticks where matplotlib labels them. Labels a figure set are kept."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "log":
                continue
            base = axis.get_transform().base
            major, minor = axis.get_major_formatter(), axis.get_minor_formatter()
            if type(major) is LogFormatterSciNotation:
                axis.set_major_formatter(_Powers(base, labelOnlyBase=major.labelOnlyBase))
            if type(minor) is LogFormatterSciNotation:
                axis.set_minor_formatter(_Powers(base, labelOnlyBase=minor.labelOnlyBase))


def plain(text: object) -> str:
    """``text`` as a literal matplotlib label: dollar signs escaped."""
    return str(text).replace("$", r"\$")


def render(draw: Callable[[Figure], None], width: float = 7.0, height: float = 3.5) -> Markup:
    """Call ``draw(figure)`` on a fresh ``width`` x ``height`` inch figure; return inline SVG."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        draw(fig)
        _plain_log_labels(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = _METADATA.sub("", text[text.find("<svg") :])
    return Markup(text)
