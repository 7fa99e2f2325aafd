"""Every finding code a rule can emit is in the codebook, and the codebook's thresholds exist.

The documentation's page of finding codes is generated from ``diagnostics.codebook`` and
the constants it names (``docs/hooks/finding_codes.py``); these checks keep that source
complete without building the site.
"""

import pathlib
import re

from diagnostics.codebook import CODEBOOK
from diagnostics.rules import CODES
from tests.docs.hooks import load_hook

ROOT = pathlib.Path(__file__).resolve().parents[2]

EMITTED = (
    re.compile(r"_finding\(\s*\"([a-z-]+)\""),  # rules.py: _finding("code", severity, ...)
    re.compile(r"\"code\":\s*\"([a-z-]+)\""),  # a finding written as a dict (monitor.py)
)


def emitted_codes() -> set[str]:
    """The codes written as literals where the diagnostics build a finding."""
    found = set()
    for path in (ROOT / "diagnostics").rglob("*.py"):
        text = path.read_text()
        for pattern in EMITTED:
            found.update(pattern.findall(text))
    return found


def test_every_emitted_code_is_a_declared_code():
    emitted = emitted_codes()
    assert {"vanishing-gradient", "parameters-not-updated", "loss-spikes"} <= emitted
    assert emitted - set(CODES) == set()


def test_the_codebook_holds_every_declared_code_once():
    codes = [entry.code for entry in CODEBOOK]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(CODES)


def test_every_entry_says_what_a_user_needs():
    for entry in CODEBOOK:
        assert entry.severities and set(entry.severities) <= {"info", "warning", "error"}
        assert entry.means and entry.measured and entry.fix, entry.code


def test_every_threshold_the_codebook_names_is_defined_with_its_source():
    hook = load_hook("finding_codes")
    for entry in CODEBOOK:
        for reference in entry.thresholds:
            module, name = reference.split(":")
            defined = hook.constants(ROOT / (module.replace(".", "/") + ".py"))
            assert name in defined, f"{entry.code}: {reference} is not defined"
            assert defined[name][1], f"{entry.code}: {reference} has no docstring (its source)"
