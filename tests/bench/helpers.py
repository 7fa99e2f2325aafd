"""Running ``python -m bench`` as a user would, from the repository root: in a child
process (:func:`run_bench`), or in this one (:func:`run_bench_here`)."""

import contextlib
import io
import os
import pathlib
import subprocess
import sys
import warnings

from tests.hang_guard import SUITE_RUN_S

ROOT = pathlib.Path(__file__).resolve().parents[2]


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def run_bench(*args: str, timeout: float = SUITE_RUN_S) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        bench_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def run_bench_here(*args: str) -> subprocess.CompletedProcess:
    """``python -m bench ARGS`` run by its ``main`` in this process, from the repository
    root, its stdout and stderr captured: what :func:`run_bench` returns, without starting
    an interpreter that imports torch again. For tests of what a run prints and writes;
    a test of the process itself (its exit, its signals) or of a run that compiles with
    torch.compile (whose worker pool would stay in this process) uses :func:`run_bench`."""
    from bench.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(ROOT)
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore does for the child
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own exit
                code = exc.code
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(bench_command(*args), code, out.getvalue(), err.getvalue())
