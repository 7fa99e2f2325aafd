"""``python -m bench profile CASE-ID``: a py-spy flame graph of one case running in a loop.

Writes ``DIR/profiles/<case-id>.svg``, where the bench report (``profiles/`` beside the
run file) links it from the case's row.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

from bench.backends import BACKENDS
from bench.cases import parse_case_id

PTRACE_FIX = (
    "py-spy was not allowed to read the benchmark process (ptrace refused). Fix: run as "
    "root (sudo -E python -m bench profile ...), or allow ptrace for your user with "
    "`sudo sysctl kernel.yama.ptrace_scope=0`; in Docker add `--cap-add SYS_PTRACE`."
)
_REFUSED = ("permission denied", "operation not permitted", "ptrace", "eperm")


class ProfileError(RuntimeError):
    """Profiling could not be done; ``str()`` is one line saying why and how to fix it."""


def find_py_spy() -> str | None:
    """The py-spy executable: beside this Python first (a venv), else on PATH."""
    beside = pathlib.Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile(
    case_id: str, out_dir: pathlib.Path, native: bool = False, seconds: float = 10.0
) -> pathlib.Path:
    """Record ``case_id`` under py-spy for ``seconds``; returns the flame graph's path.

    Raises ValueError for a malformed or unknown case (or one that cannot run here) and
    ProfileError when py-spy is missing, refused, or fails.
    """
    case = parse_case_id(case_id)
    if case.backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {case.backend!r} in case id; known: {', '.join(BACKENDS)}"
        )
    reason = BACKENDS[case.backend].skip_reason(case)
    if reason:
        raise ValueError(f"case {case_id} cannot run here: {reason}")
    py_spy = find_py_spy()
    if py_spy is None:
        raise ProfileError("py-spy not found; install it with `pip install py-spy`")
    svg = out_dir / "profiles" / f"{case.id}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--format", "flamegraph", "--output", str(svg), "--rate", "200"]
    if native:
        command.append("--native")
    command += ["--", sys.executable, "-m", "bench.loop", case.id, "--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not svg.exists():
        text = (done.stderr + done.stdout).strip()
        if any(word in text.lower() for word in _REFUSED):
            raise ProfileError(PTRACE_FIX)
        last = text.splitlines()[-1] if text else f"exit status {done.returncode}"
        raise ProfileError(f"py-spy failed: {last}")
    return svg
