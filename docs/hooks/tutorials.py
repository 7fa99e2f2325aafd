"""MkDocs hook: the tutorials, executed at build time and shown with their outputs.

Every ``docs/tutorials/*.py`` (a jupytext percent-format script) becomes the page
``tutorials/NAME.md``: its Markdown cells as they are, its code cells, and what each
printed or drew, from a run in a Jupyter kernel (jupytext reads the script, nbclient
runs it from the repository root, as ``python docs/tutorials/NAME.py`` would run).
Figures become PNG files beside the page; HTML a result object renders itself as is
kept. A cell that raises stops the build with the tutorial's error, so a broken
tutorial fails ``mkdocs build``. ``tutorials/index.md`` lists them, and the "Tutorials"
section of the nav is filled with whatever scripts exist.

``RNNREF_DOCS_EXECUTE=0`` builds the pages from the code cells alone, each saying it was
not run (for editing the other pages in seconds); ``nox -s docs`` and the tests run them.
"""

from __future__ import annotations

import base64
import os
import pathlib
import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

FOLDER = "tutorials"
NAV_TITLE = "Tutorials"
CELL_TIMEOUT_S = 1800
"""A hang guard for one cell, not a speed limit (a tutorial's cells take seconds)."""

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def scripts(config: MkDocsConfig) -> list[pathlib.Path]:
    """The tutorial scripts, by name."""
    return sorted((pathlib.Path(config.docs_dir) / FOLDER).glob("*.py"))


def executing() -> bool:
    """False when ``RNNREF_DOCS_EXECUTE=0`` asks for a build without running them."""
    return os.environ.get("RNNREF_DOCS_EXECUTE", "1") != "0"


def fence(text: str, language: str) -> list[str]:
    """``text`` in a fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    mark = "`" * max(3, longest + 1)
    return [f"{mark}{language}", text.rstrip("\n"), mark, ""]


def output_lines(
    output: dict[str, Any], image_name: str, images: dict[str, bytes], page_dir: str
) -> list[str]:
    """Markdown for one cell output; figures go into ``images`` (site path -> PNG bytes)."""
    if output["output_type"] == "stream":
        return fence(ANSI.sub("", output["text"]), "text")
    data = output.get("data", {})
    if "image/png" in data:
        images[f"{page_dir}/{image_name}.png"] = base64.b64decode(data["image/png"])
        return [f"![figure]({page_dir.rsplit('/', 1)[-1]}/{image_name}.png)", ""]
    if "text/html" in data:
        return ['<div class="tutorial-output" markdown="0">', data["text/html"], "</div>", ""]
    if "text/plain" in data:
        return fence(ANSI.sub("", data["text/plain"]), "text")
    return []


def render(notebook: Any, name: str, executed: bool) -> tuple[str, dict[str, bytes]]:
    """The page of one tutorial and its figures (site path -> PNG bytes)."""
    lines: list[str] = []
    images: dict[str, bytes] = {}
    page_dir = f"{FOLDER}/{name}"
    introduced = False  # the line on how to run it follows the first Markdown cell
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            lines += [cell.source, ""]
            if not introduced:
                introduced = True
                lines += [
                    f"Run it yourself from the repository root: "
                    f"`python docs/tutorials/{name}.py` ([the script]({name}.py)).",
                    "",
                ]
                if not executed:
                    lines += [
                        '!!! warning "Not run in this build"',
                        "    This page was built with `RNNREF_DOCS_EXECUTE=0`: the code is "
                        "shown without its output.",
                        "",
                    ]
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        lines += fence(cell.source, "python")
        for number, output in enumerate(cell.get("outputs", [])):
            lines += output_lines(output, f"cell{index}-{number}", images, page_dir)
    return "\n".join(lines) + "\n", images


def run(path: pathlib.Path, root: pathlib.Path) -> Any:
    """The script as a notebook, executed from the repository root when executing."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(path, fmt="py:percent")
    if not executing():
        return notebook
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(root)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        raise PluginError(f"tutorial {path.name} failed:\n{ANSI.sub('', str(error))}") from None
    return notebook


def index_page(pages: list[tuple[str, str]]) -> str:
    """``tutorials/index.md``: one line per tutorial (name, title)."""
    lines = [
        "# Tutorials",
        "",
        "Each tutorial is a Python script in `docs/tutorials/` (jupytext percent format: "
        "open it as a notebook with jupytext, or run it as it is). The site build runs "
        "every one of them and shows what it printed and drew; a tutorial that fails "
        "fails the build.",
        "",
    ]
    lines += [f"- [{title}]({name}.md)" for name, title in pages]
    if not pages:
        lines.append("No tutorial is in `docs/tutorials/` yet.")
    return "\n".join(lines) + "\n"


def title_of(notebook: Any, name: str) -> str:
    """The first Markdown heading of the tutorial, else its name."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match[1].strip()
    return name


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the nav's Tutorials entry with the index and one page per script."""
    pages = [f"{FOLDER}/{path.stem}.md" for path in scripts(config)]
    for position, item in enumerate(config.nav or []):
        if isinstance(item, dict) and NAV_TITLE in item:
            config.nav[position] = {NAV_TITLE: [f"{FOLDER}/index.md", *pages]}
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Run every tutorial and add its page, its figures and the index."""
    root = pathlib.Path(config.config_file_path).parent
    listed = []
    for path in scripts(config):
        notebook = run(path, root)
        page, images = render(notebook, path.stem, executing())
        files.append(File.generated(config, f"{FOLDER}/{path.stem}.md", content=page))
        for site_path, png in images.items():
            files.append(File.generated(config, site_path, content=png))
        listed.append((path.stem, title_of(notebook, path.stem)))
    if any(f.src_uri == f"{FOLDER}/index.md" for f in files):
        raise PluginError(f"docs/{FOLDER}/index.md is generated; remove the file")
    files.append(File.generated(config, f"{FOLDER}/index.md", content=index_page(listed)))
    return files
