"""Shared rendering: the Jinja2 environment (autoescaped), number filters, atomic writes.

Every report renders through :func:`write_html`, so every string that came
from a file (model names, paths, module names) is HTML-escaped by Jinja2's
autoescape; only values wrapped in ``markupsafe.Markup`` by this package
(inline SVG from :mod:`reports.svg`) pass through unescaped.

Templates live in ``reports/templates``; ``base.html.j2`` holds the page
frame and CSS, ``macros.html.j2`` the figure and empty-section macros.
"""

from __future__ import annotations

import functools
import math
import pathlib
from typing import Any

import jinja2

from reports.output import check_output, write_atomic

TEMPLATES = pathlib.Path(__file__).with_name("templates")


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; '—' for missing or non-finite."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if not math.isfinite(value):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:,.{decimals}f}"


def fmt_ms(seconds: float | None) -> str:
    """Seconds as milliseconds with 3 significant digits."""
    return "—" if seconds is None else fmt_num(seconds * 1e3)


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A percentage given in percent units."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}%"


def fmt_fraction(value: float | None, digits: int = 1) -> str:
    """A fraction (0.25) as a percentage ('25.0%'); '—' for missing or non-finite."""
    return "—" if value is None else fmt_pct(100 * value, digits)


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment every report uses (autoescape on, undefined is an error)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_num, ms=fmt_ms, pct=fmt_pct, fraction=fmt_fraction)
    return env


def write_html(template: str, out_path: pathlib.Path, **context: Any) -> None:
    """Render ``template`` with ``context`` into ``out_path``, atomically
    (:func:`reports.output.write_atomic`).

    Raises:
        CannotWrite: the path is a folder or not a regular file, or its folder
            cannot be created or written.
    """
    out_path = pathlib.Path(out_path)
    check_output(out_path)
    write_atomic(out_path, environment().get_template(template).render(**context))
