"""Shared rendering: the Jinja2 environment (autoescaped), number filters, atomic writes.

Every report renders through :func:`write_html`, so every string that came
from a file (model names, paths, module names) is HTML-escaped by Jinja2's
autoescape; only values wrapped in ``markupsafe.Markup`` by this package
(inline SVG from :mod:`reports.svg`) pass through unescaped.

Templates live in ``reports/templates``; ``base.html.j2`` holds the page
frame and CSS, ``macros.html.j2`` the figure and empty-section macros.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pathlib
from typing import Any

import jinja2

from reports.errors import CannotWrite

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
    env.filters.update(num=fmt_num, ms=fmt_ms, pct=fmt_pct)
    return env


def check_output(out_path: pathlib.Path) -> None:
    """Fail early, before any work, when ``out_path`` clearly cannot be written.

    Raises:
        CannotWrite: the path is a folder, or a parent of it is a file.
    """
    out_path = pathlib.Path(out_path)
    if out_path.is_dir():
        raise CannotWrite(out_path, "is a directory; give a file name for the report")
    for parent in out_path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CannotWrite(out_path, f"cannot write the report ({parent} is not a folder)")
            break


def write_html(template: str, out_path: pathlib.Path, **context: Any) -> None:
    """Render ``template`` with ``context`` into ``out_path``, atomically.

    The parent folder is created if missing. The file appears complete or not
    at all, so an existing report is never left half-written.

    Raises:
        CannotWrite: the path is a folder, or its folder cannot be created or written.
    """
    out_path = pathlib.Path(out_path)
    check_output(out_path)
    html = environment().get_template(template).render(**context)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out_path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        where = f": {exc.filename}" if exc.filename else ""
        raise CannotWrite(out_path, f"cannot write the report ({exc.strerror}{where})") from None
