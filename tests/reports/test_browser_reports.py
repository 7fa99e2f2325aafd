"""The bench and compare reports in headless Chromium: no request, DOM complete, not blank."""

from __future__ import annotations

import pathlib

import pytest

from reports.bench_report import write_bench_report
from reports.compare_report import write_compare_report
from tests.browser import assert_page, check_report, load
from tests.reports import runfactory as rf

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pathlib.Path]:
    folder = tmp_path_factory.mktemp("browser")
    base = rf.write(folder / "base.json", rf.matrix(seed=5, hostile=HOSTILE))
    new_doc = rf.matrix(seed=6, hostile=HOSTILE)
    new_doc["machine_info"]["node"] = HOSTILE
    return base, rf.write(folder / "new.json", new_doc)


def test_watcher_sees_requests_a_page_makes(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p>x</p><img src="http://example.com/a.png">'
        '<link rel="stylesheet" href="https://cdn.example.org/a.css"></body></html>'
    )
    loaded = load(page, tmp_path)
    hosts = " ".join(loaded.requests)
    assert "example.com" in hosts and "cdn.example.org" in hosts
    with pytest.raises(AssertionError, match="network requests"):
        assert_page(loaded, min_tables=0)


def test_bench_report_in_browser(runs: tuple, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "bench.html"
    write_bench_report(runs[0], out)
    page = check_report(
        out,
        tmp_path,
        min_tables=8,
        min_figures=5,
        ids=("headline-table", "results-table", "skipped-table", "claims", "profiles"),
    )
    assert HOSTILE in page.dom.replace("&lt;", "<").replace("&gt;", ">")  # shown as text


def test_compare_report_in_browser(runs: tuple, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "compare.html"
    write_compare_report(runs[0], runs[1], out)
    page = check_report(
        out,
        tmp_path,
        min_tables=3,
        min_figures=1,
        ids=("env-table", "summary-table", "cases-table", "across-machines"),
    )
    assert "comparison across machines" in page.dom.lower()
