"""MkDocs hook: the page of finding codes, generated from the code at build time.

Each code's meaning, measurement and fix come from ``diagnostics.codebook.CODEBOOK``;
each threshold's value and source are read from the module that defines it (the
constant's assignment and the docstring under it, found with :mod:`ast`), so the page
says what the rules do today. A threshold the codebook names but no module defines
fails the build.
"""

from __future__ import annotations

import ast
import functools
import pathlib

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

PAGE = "finding-codes.md"

INTRO = """# Finding codes

Every finding in a findings file (`python -m diagnostics`, `diagnostics.diagnose`,
`diagnostics.watch`) has a `code`, a `severity` (`info`, `warning`, `error`), the
`module` it is about, a one-sentence `summary`, its `evidence` (numbers) and `advice`.
An `error` finding makes `python -m diagnostics` exit 1. Codes are added, never renamed.

This page is generated from the code when the site is built: the meaning, measurement
and fix from `diagnostics/codebook.py`, each threshold's value and source from the
module that defines it. How well the codes are found is measured on three corpora of
models: [the corpora's scores](measurements/corpora.md).

| code | severities | means |
|---|---|---|
"""


@functools.cache
def constants(path: pathlib.Path) -> dict[str, tuple[str, str]]:
    """Module-level constants of a Python file: name -> (value source, docstring).

    The value source is the right-hand side of the assignment, or the whole statement
    where it assigns several names at once (``SOFT, HARD = 0.1, 0.01``)."""
    lines = path.read_text().splitlines()
    body = ast.parse("\n".join(lines)).body
    found = {}
    for statement, following in zip(body, [*body[1:], None], strict=True):
        if not isinstance(statement, ast.Assign | ast.AnnAssign):
            continue
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = [
            node.id
            for target in targets
            for node in (target.elts if isinstance(target, ast.Tuple) else [target])
            if isinstance(node, ast.Name)
        ]
        doc = ""
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = " ".join(following.value.value.split())
        shown = statement if len(names) > 1 or statement.value is None else statement.value
        for name in names:
            found[name] = (" ".join(segment(lines, shown).split()), doc)
    return found


def segment(lines: list[str], node: ast.AST) -> str:
    """The source text of ``node`` (``ast.get_source_segment`` splits the file at each
    call); column offsets count UTF-8 bytes."""
    first, last = node.lineno - 1, node.end_lineno - 1
    encoded = [line.encode() for line in lines[first : last + 1]]
    if first == last:
        return encoded[0][node.col_offset : node.end_col_offset].decode()
    parts = [encoded[0][node.col_offset :], *encoded[1:-1], encoded[-1][: node.end_col_offset]]
    return b"\n".join(parts).decode()


def threshold_rows(root: pathlib.Path, names: tuple[str, ...]) -> list[str]:
    """Markdown table rows (constant, value, source) for ``module:NAME`` references."""
    rows = []
    for reference in names:
        module, name = reference.split(":")
        path = root / (module.replace(".", "/") + ".py")
        defined = constants(path) if path.exists() else {}
        if name not in defined:
            raise PluginError(f"{PAGE}: the codebook names {reference}, which is not defined")
        text, doc = defined[name]
        rows.append(f"| `{name}` in `{module}` | `{cell(text)}` | {cell(doc)} |")
    return rows


def cell(text: str) -> str:
    """``text`` made safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def render(root: pathlib.Path) -> str:
    """The whole page."""
    from diagnostics.codebook import CODEBOOK

    lines = [INTRO.rstrip("\n")]
    for entry in CODEBOOK:
        lines.append(
            f"| [`{entry.code}`](#{entry.code}) | {', '.join(entry.severities)} | "
            f"{cell(entry.means)} |"
        )
    for entry in CODEBOOK:
        lines += [
            "",
            f"## {entry.code} {{#{entry.code}}}",
            "",
            f"**Severity:** {', '.join(entry.severities)}",
            "",
            f"**What it means.** {entry.means}",
            "",
            f"**How it is measured.** {entry.measured}",
            "",
        ]
        if entry.thresholds:
            lines += [
                "**Thresholds and their source:**",
                "",
                "| constant | value | source |",
                "|---|---|---|",
                *threshold_rows(root, entry.thresholds),
                "",
            ]
        else:
            lines += ["**Threshold:** none: the finding is a fact, not a measure.", ""]
        lines.append(f"**The fix.** {entry.fix}")
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated page to the site's files."""
    root = pathlib.Path(config.config_file_path).parent
    files.append(File.generated(config, PAGE, content=render(root)))
    return files
