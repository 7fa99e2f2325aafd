"""The import arrows of DESIGN.md's layout, read from the source (function-level imports too).

rnnref imports numpy (torch only in its interop module); reports imports none of rnnref,
bench, diagnostics, usermodel or torch; usermodel imports torch and numpy; bench and
diagnostics import rnnref, reports and usermodel but not each other; every package may use
the command-line framework ``rnnref_cli.command``, and nothing imports the console script.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = ("rnnref", "bench", "diagnostics", "reports", "usermodel", "rnnref_cli", "torch")

FORBIDDEN = {
    "rnnref": {"bench", "diagnostics", "reports", "usermodel", "rnnref_cli", "torch"},
    "reports": {"rnnref", "bench", "diagnostics", "usermodel", "torch"},
    "usermodel": {"rnnref", "bench", "diagnostics", "reports"},
    "bench": {"diagnostics"},
    "diagnostics": {"bench"},
}
TORCH_ALLOWED = {"rnnref/interop.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def arrows(package: str) -> list[tuple[str, str]]:
    """(file, module) for each import of a suite package or torch in ``package``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in SUITE:
                found.append((path.relative_to(ROOT).as_posix(), name))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_follow_the_layout(package):
    wrong = [
        (file, name)
        for file, name in arrows(package)
        if name.split(".")[0] in FORBIDDEN[package]
        and not (name.split(".")[0] == "torch" and file in TORCH_ALLOWED)
    ]
    assert not wrong, f"{package} imports against DESIGN.md's arrows: {wrong}"


def test_only_the_framework_of_rnnref_cli_is_imported_by_the_packages():
    wrong = [
        (file, name)
        for package in FORBIDDEN
        for file, name in arrows(package)
        if name.startswith("rnnref_cli.") and not name.startswith("rnnref_cli.command")
    ]
    assert not wrong, wrong
