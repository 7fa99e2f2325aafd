"""Every command of a ```bash block in README.md and docs/getting-started.md runs as written.

A page's commands run one by one, in its order (a later one reads what an earlier one
wrote), each line through bash in a fresh directory that links the checkout's top-level
entries: a clone's view (``bench/``, ``diagnostics/examples/...``) whose outputs
(``out/...``) land in the temporary directory, never in the checkout. ``python`` there is
the interpreter running the tests. A command exits 0, or 0 or 1 where it is a gate
(``--fail-above``: two runs of the same code may differ beyond noise on a shared machine,
and the README says it exits 1 then). Where a page shows what a command prints (a
```text block, or a bare one, after the ```bash block and before the next heading shows
its first command's output), the command prints lines of that shape: each shown line,
numbers read as any number, in order, except the lines that depend on the timings.
The few commands that cannot run in a test are listed in ``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hang_guard import SUITE_RUN_S

ROOT = Path(__file__).resolve().parents[2]

PAGES = ("README.md", "docs/getting-started.md")

NOT_RUN = {
    "python -m pip install nox": "installs nox into the reader's Python: CI's setup, not a test",
    "nox -s tests": "runs this test suite, this test included: it would recur",
    "nox -s bench": (
        "the quick preset, 4 to 5 minutes on 2 cores; test_the_nox_sessions_shown_run_the_jobs "
        "checks that the session runs python -m bench, which the README's bench lines run"
    ),
}
"""Commands shown but not run here, each with why (keys: the command's words, comment cut)."""

NOX_SESSION_RUNS = {"tests": ("pytest",), "bench": ("python", "-m", "bench")}
"""What each nox session the pages show runs: the first words of its ``session.run``."""

GATE_OPTION = "--fail-above"

LOAD_DEPENDENT = ("unreliable: ", "the machine was busy", "noise warnings: ")
"""Output lines that appear or not with the timings: rows too noisy to win, a busy machine."""

VERDICT = re.compile(r"^  \S+ +(?:inference|training) *: ")
"""A bench verdict line, ``  lstm     inference: torch 1/1, ...``: what follows its label
depends on the timings."""

NUMBER = r"\d+(?:\.\d+)?"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """A ```bash block: its commands (one per line, continuations joined) and the output
    the page shows for its first command, if any."""

    commands: tuple[str, ...]
    shown: tuple[str, ...] | None


def bash_blocks(text: str) -> list[Block]:
    """The page's ```bash blocks, in order, each with the output shown after it."""
    fences = list(FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "bash":
            continue
        shown = None
        after = fences[i + 1] if i + 1 < len(fences) else None
        if after and after.group(1) in ("text", ""):
            between = text[fence.end() : after.start()]
            if not re.search(r"^#", between, flags=re.MULTILINE):
                shown = tuple(after.group(2).splitlines())
        lines = fence.group(2).replace("\\\n", " ").splitlines()
        commands = tuple(line.strip() for line in lines if line.strip())
        blocks.append(Block(commands, shown))
    return blocks


def words(command: str) -> str:
    """The command as bash reads its words, the trailing comment cut."""
    return " ".join(shlex.split(command, comments=True))


def shown_commands(page: str) -> list[str]:
    return [c for block in bash_blocks((ROOT / page).read_text()) for c in block.commands]


def line_pattern(line: str) -> re.Pattern[str]:
    """The shape of a shown output line: its numbers any number; a verdict line its label."""
    verdict = VERDICT.match(line)
    if verdict:
        return re.compile(re.escape(verdict.group(0)) + ".*")
    return re.compile(NUMBER.join(re.escape(part) for part in re.split(NUMBER, line)))


def assert_has_shape(printed: list[str], shown: tuple[str, ...]) -> None:
    """Every shown line not depending on the load matches a printed line, in order."""
    rest = iter(printed)
    for line in shown:
        if line.startswith(LOAD_DEPENDENT):
            continue
        pattern = line_pattern(line)
        assert any(pattern.fullmatch(out) for out in rest), (
            f"shown {line!r}, printed nothing of its shape after the lines before it:\n"
            + "\n".join(printed[-30:])
        )


def clone_view(tmp: Path) -> dict[str, str]:
    """Link the checkout's top-level entries into ``tmp``; the environment the commands
    run in: ``python`` the test's interpreter, the packages imported from ``tmp``."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith(".") and entry.name not in ("out", "site"):
            (tmp / entry.name).symlink_to(entry)
    bin_dir = tmp.parent / f"{tmp.name}-bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.mark.parametrize("page", PAGES)
def test_every_command_shown_runs_as_written(page, tmp_path):
    cwd = tmp_path / "clone"
    cwd.mkdir()
    env = clone_view(cwd)
    for block in bash_blocks((ROOT / page).read_text()):
        for i, command in enumerate(block.commands):
            if words(command) in NOT_RUN:
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=SUITE_RUN_S,
                check=False,
            )
            codes = {0, 1} if GATE_OPTION in shlex.split(command, comments=True) else {0}
            assert done.returncode in codes, (
                f"{page}: {command}\nexit {done.returncode}\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
            if i == 0 and block.shown:
                assert_has_shape(done.stdout.splitlines(), block.shown)


def test_a_command_not_run_is_one_the_pages_show():
    shown = {words(c) for page in PAGES for c in shown_commands(page)}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown


def test_the_nox_sessions_shown_run_the_jobs():
    """``nox -s NAME`` shown on a page is a session of noxfile.py that runs its job."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    runs: dict[str, list[tuple[str, ...]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            ast.unparse(d) == "nox.session" for d in node.decorator_list
        ):
            runs[node.name] = [
                tuple(a.value for a in call.args if isinstance(a, ast.Constant))
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and ast.unparse(call.func) == "session.run"
            ]
    sessions = {
        argv[2]
        for page in PAGES
        for command in shown_commands(page)
        if (argv := shlex.split(command, comments=True))[:2] == ["nox", "-s"]
    }
    assert sessions and sessions <= set(NOX_SESSION_RUNS), sessions
    for name in sessions:
        first = NOX_SESSION_RUNS[name]
        assert any(args[: len(first)] == first for args in runs.get(name, [])), (name, runs)
