"""The documentation site: built with ``mkdocs build --strict`` (its tutorials run), then
read as a reader gets it.

The build is a subprocess, so a broken link, a missing page, a docstring mkdocstrings
cannot read or a tutorial that raises fails it. The built pages are opened in headless
Chromium with every network path closed and watched (:mod:`tests.browser`): they must
render and request nothing. Without Chromium the browser checks skip, loudly.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from diagnostics.codebook import CODEBOOK
from diagnostics.rules import CODES
from tests.browser import load
from tests.docs.hooks import load_hook
from tests.docs.test_codebook import emitted_codes
from tests.hang_guard import SITE_BUILD_S

for _module in ("mkdocs", "material", "mkdocstrings", "jupytext", "nbclient"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: pip install '.[docs]'")

ROOT = pathlib.Path(__file__).resolve().parents[2]

PAGES = {
    "index.html": "questions",
    "bench.html": "Timing in passes",
    "finding-codes.html": "vanishing-gradient",
    "api.html": "backward_from_end",
}
"""Pages opened in the browser, with a text each must show."""

LOADS = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"(https?:)?//", re.I)
"""A tag that would load something from another host."""


def build(out: pathlib.Path) -> None:
    """``mkdocs build --strict`` into ``out``; fails the test on any warning. The tutorials
    are not run here: tests/docs/test_tutorials.py runs each once, and the last test below
    runs the hook's execution on a small tutorial (``nox -s docs`` runs them all)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "RNNREF_DOCS_EXECUTE": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SITE_BUILD_S,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"


def check_finding_codes(site: pathlib.Path) -> None:
    page = (site / "finding-codes.html").read_text()
    for code in set(CODES) | emitted_codes():
        assert f'id="{code}"' in page, f"{code} is not on the finding-codes page"
    for entry in CODEBOOK:
        for reference in entry.thresholds:
            assert reference.split(":")[1] in page, f"{reference} is not on the page"


def check_schemas(site: pathlib.Path) -> None:
    for shipped in sorted((ROOT / "reports" / "schemas").glob("*.json")):
        copied = site / "schemas" / shipped.name
        assert json.loads(copied.read_text()) == json.loads(shipped.read_text())
        assert json.loads(shipped.read_text())["title"] in (site / "schemas.html").read_text()


def check_tutorials(site: pathlib.Path) -> None:
    for script in sorted((ROOT / "docs" / "tutorials").glob("*.py")):
        assert (site / "tutorials" / f"{script.stem}.html").exists(), f"no page: {script.name}"
        assert f"{script.stem}.html" in (site / "tutorials" / "index.html").read_text()


def check_search_index(site: pathlib.Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert set(PAGES) <= locations, f"pages missing from the search index: {set(PAGES) - locations}"
    assert len(index["docs"]) > 100  # one entry per page and per section


def check_no_remote_loads(site: pathlib.Path) -> None:
    for page in site.rglob("*.html"):
        found = LOADS.findall(page.read_text())
        assert not found, f"{page.relative_to(site)} loads from the network"


def check_in_browser(site: pathlib.Path, workdir: pathlib.Path) -> None:
    for name, text in PAGES.items():
        page = load(site / name, workdir / name.replace(".html", ""))
        assert page.requests == [], f"{name} made network requests: {page.requests}"
        assert text in page.dom, f"{name} does not show {text!r}"
        assert page.screenshot.std() > 0.05, f"{name}: the screenshot is (nearly) uniform"
        assert page.ink > 0.01, f"{name}: the screenshot is nearly blank ({page.ink:.2%} ink)"


def test_the_site_builds_strict_and_reads_as_it_should(tmp_path):
    """One build, every check on it: one test, so that pytest's workers do not build the
    site once each."""
    site = tmp_path / "site"
    build(site)
    check_finding_codes(site)
    check_schemas(site)
    check_tutorials(site)
    check_search_index(site)
    check_no_remote_loads(site)
    check_in_browser(site, tmp_path)  # last: it skips, loudly, without Chromium


def test_a_tutorial_that_raises_fails_the_build(tmp_path):
    from mkdocs.exceptions import PluginError

    script = tmp_path / "broken.py"
    script.write_text('# %% [markdown]\n# # Broken\n\n# %%\nprint("before")\n1 / 0\n')
    with pytest.raises(PluginError, match="ZeroDivisionError"):
        load_hook("tutorials").run(script, ROOT)


def test_a_tutorial_page_shows_what_its_cells_printed_drew_and_rendered(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNREF_DOCS_EXECUTE", "1")
    script = tmp_path / "small.py"
    script.write_text(
        "# %% [markdown]\n# # Small\n\n"
        "# %%\nimport matplotlib.pyplot as plt\nprint('printed <here>')\n"
        "plt.plot([0, 1], [1, 0])\nplt.show()\n\n"
        "# %%\nfrom reports.findingsfile import FindingsDocument\n"
        "FindingsDocument(schema='rnnref-findings/1', target='<b>net</b>', modules=[], "
        "probes={}, findings=[])\n"
    )
    hook = load_hook("tutorials")
    page, images = hook.render(hook.run(script, ROOT), "small", executed=True)
    assert "printed <here>" in page
    assert len(images) == 1 and next(iter(images.values())).startswith(b"\x89PNG")
    assert '<div class="tutorial-output"' in page and "&lt;b&gt;net&lt;/b&gt;" in page
