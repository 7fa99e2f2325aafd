"""The documentation site: built with ``mkdocs build --strict`` (its tutorials run), then
read as a reader gets it.

The build is a subprocess, so a broken link, a missing page, a docstring mkdocstrings
cannot read or a tutorial that raises fails it. The built pages are opened in headless
Chromium with every network path closed and watched (:mod:`tests.browser`): they must
render and request nothing. Without Chromium the browser checks skip, loudly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from diagnostics.codebook import CODEBOOK
from reports.findingsfile import CODES
from tests.browser import load
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


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    """The site, built with --strict into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "RNNREF_DOCS_EXECUTE": "1"}
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
    return out


def test_every_finding_code_has_its_section(site):
    page = (site / "finding-codes.html").read_text()
    for code in set(CODES) | emitted_codes():
        assert f'id="{code}"' in page, f"{code} is not on the finding-codes page"
    for entry in CODEBOOK:
        for reference in entry.thresholds:
            assert reference.split(":")[1] in page, f"{reference} is not on the page"


def test_the_schemas_are_on_the_site_as_shipped(site):
    for shipped in sorted((ROOT / "reports" / "schemas").glob("*.json")):
        copied = site / "schemas" / shipped.name
        assert json.loads(copied.read_text()) == json.loads(shipped.read_text())
        assert json.loads(shipped.read_text())["title"] in (site / "schemas.html").read_text()


def test_every_tutorial_has_its_page(site):
    for script in sorted((ROOT / "docs" / "tutorials").glob("*.py")):
        page = site / "tutorials" / f"{script.stem}.html"
        assert page.exists(), f"no page for {script.name}"
        assert script.stem in (site / "tutorials" / "index.html").read_text()


def test_the_search_index_holds_every_page(site):
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert set(PAGES) <= locations
    assert len(index["docs"]) > 100  # one entry per page and per section


def test_no_page_loads_anything_from_another_host(site):
    for page in site.rglob("*.html"):
        found = LOADS.findall(page.read_text())
        assert not found, f"{page.relative_to(site)} loads from the network"


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_renders_and_requests_nothing(site, tmp_path, name):
    page = load(site / name, tmp_path)
    assert page.requests == [], f"{name} made network requests: {page.requests}"
    assert PAGES[name] in page.dom
    assert page.screenshot.std() > 0.05, "the screenshot is (nearly) uniform"
    assert page.ink > 0.01, f"the screenshot is nearly blank ({page.ink:.2%} non-white pixels)"


def tutorials_hook():
    spec = importlib.util.spec_from_file_location(
        "tutorials_hook", ROOT / "docs" / "hooks" / "tutorials.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tutorial_that_raises_fails_the_build(tmp_path):
    from mkdocs.exceptions import PluginError

    script = tmp_path / "broken.py"
    script.write_text('# %% [markdown]\n# # Broken\n\n# %%\nprint("before")\n1 / 0\n')
    with pytest.raises(PluginError, match="ZeroDivisionError"):
        tutorials_hook().run(script, ROOT)
