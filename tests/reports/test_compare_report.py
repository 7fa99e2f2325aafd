"""The compare report's HTML: environment first, summary, figure, escaping of hostile strings."""

from __future__ import annotations

import html
import pathlib

from reports.compare_report import write_compare_report
from tests.reports import runfactory as rf

HOSTILE = "<script>alert(1)</script>"


def test_compare_report_escapes_and_orders_sections(tmp_path: pathlib.Path) -> None:
    base_doc = rf.run(
        [rf.benchmark(batch=b, seed=b, module=HOSTILE) for b in (1, 2, 4)],
        versions={**rf.VERSIONS, "torch": HOSTILE},
    )
    new_doc = rf.run(
        [rf.benchmark(batch=b, seed=10 + b, module=HOSTILE, median=0.013) for b in (1, 2, 8)],
        machine={**rf.MACHINE, "node": HOSTILE},
        failed=[{"case": HOSTILE, "error": HOSTILE}],
    )
    out = tmp_path / "c.html"
    result = write_compare_report(
        rf.write(tmp_path / "b.json", base_doc), rf.write(tmp_path / "n.json", new_doc), out
    )
    text = out.read_text()
    assert HOSTILE not in text
    assert "<script" not in text
    assert text.count(html.escape(HOSTILE, quote=False)) >= 4  # version, machine, 2 modules
    positions = [
        text.index(f'<section id="{s}">')
        for s in ("environment", "summary", "ratios", "cases", "unmatched")
    ]
    assert positions == sorted(positions)
    assert 'id="across-machines"' in text
    assert result.count("slower") == 2
    assert text.count("<svg") == 1
