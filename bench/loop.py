"""``python -m bench.loop CASE-ID [--seconds S]``: run one checked case in a loop (for py-spy)."""

from __future__ import annotations

import argparse
import time

import torch

from bench.backends import BACKENDS
from bench.cases import Case, parse_case_id
from bench.check import verify
from bench.environment import pin_threads
from bench.problem import make_problem


def loop(case: Case, seconds: float) -> int:
    """Check ``case`` against the reference, then call its step for ``seconds``; returns calls."""
    pin_threads(torch.get_num_threads())
    problem = make_problem(case)
    runner = BACKENDS[case.backend].build(problem)
    verify(runner, problem, case.id)
    calls, deadline = 0, time.perf_counter() + seconds
    while calls == 0 or time.perf_counter() < deadline:
        runner.step()
        calls += 1
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loop", description=__doc__)
    parser.add_argument("case_id")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    calls = loop(parse_case_id(args.case_id), args.seconds)
    print(f"{args.case_id}: {calls} calls")


if __name__ == "__main__":
    main()
