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
import re
from collections.abc import Callable

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure

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


def plain(text: object) -> str:
    """``text`` as a literal matplotlib label: dollar signs escaped."""
    return str(text).replace("$", r"\$")


def render(draw: Callable[[Figure], None], width: float = 7.0, height: float = 3.5) -> Markup:
    """Call ``draw(figure)`` on a fresh ``width`` x ``height`` inch figure; return inline SVG."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = _METADATA.sub("", text[text.find("<svg") :])
    return Markup(text)
