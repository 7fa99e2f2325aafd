"""Running ``python -m bench`` as a user would, from the repository root."""

import os
import pathlib
import subprocess
import sys

from tests.hang_guard import SUITE_RUN_S

ROOT = pathlib.Path(__file__).resolve().parents[2]


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def run_bench(*args: str, timeout: float = SUITE_RUN_S) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        bench_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
