"""``python -m bench.loop CASE-ID [--seconds S] [--ready]``: run one checked case in a loop.

With ``--ready`` (how ``python -m bench profile`` runs it) the process prints ``ready``
once the case is built, checked and warmed up, and lets any process of this user trace
it, so that py-spy attaches by pid after the imports and records only the loop.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable

import torch

from bench.backends import BACKENDS
from bench.cases import Case, parse_case_id
from bench.check import verify
from bench.environment import pin_threads
from bench.problem import make_problem
from rnnref_cli.command import Parser


def loop(case: Case, seconds: float, ready: Callable[[], None] = lambda: None) -> int:
    """Check ``case`` against the reference, warm it up, call ``ready``, then call its step
    for ``seconds``; returns the calls after ``ready``."""
    pin_threads(torch.get_num_threads())
    problem = make_problem(case)
    runner = BACKENDS[case.backend].build(problem)
    verify(runner, problem, case.id)
    runner.step()  # warm-up: the first call after the check still fills caches
    ready()
    calls, deadline = 0, time.perf_counter() + seconds
    while calls == 0 or time.perf_counter() < deadline:
        runner.step()
        calls += 1
    return calls


def announce_ready() -> None:
    """Print ``ready`` and, on Linux, allow any tracer (Yama ``ptrace_scope=1``, Ubuntu's
    default, otherwise lets only an ancestor attach, and py-spy is this process's sibling)."""
    if sys.platform.startswith("linux"):
        pr_set_ptracer, pr_set_ptracer_any = 0x59616D61, ctypes.c_ulong(-1)
        ctypes.CDLL(None).prctl(pr_set_ptracer, pr_set_ptracer_any, 0, 0, 0)
    print("ready", flush=True)


def main() -> None:
    parser = Parser(prog="python -m bench.loop", description=__doc__)
    parser.add_argument("case_id")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ready", action="store_true", help="print 'ready' before the loop")
    args = parser.parse_args()
    ready = announce_ready if args.ready else lambda: None
    calls = loop(parse_case_id(args.case_id), args.seconds, ready)
    print(f"{args.case_id}: {calls} calls")


if __name__ == "__main__":
    main()
