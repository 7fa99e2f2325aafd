"""The ``rnnref`` console script: every job of the suite as one subcommand.

``rnnref --help`` lists them; each is declared once, in its package's ``cli`` module, and
is the same job as its ``python -m`` form:

    rnnref bench [...]            python -m bench [...]
    rnnref bench model TARGET     python -m bench model TARGET
    rnnref profile CASE-ID        python -m bench profile CASE-ID
    rnnref reference-speed        python -m bench.reference_speed
    rnnref report FILE.json       python -m reports bench RUN.json | diagnose FINDINGS.json
    rnnref compare BASE NEW       python -m reports compare BASE NEW
    rnnref table RUN...           python -m reports table RUN...
    rnnref history add|show       python -m reports history add|show
    rnnref merge RUN... -o OUT    python -m reports merge RUN... -o OUT
    rnnref diagnose TARGET        python -m diagnostics TARGET
    rnnref evaluate               python -m diagnostics evaluate
    rnnref cost                   python -m diagnostics cost

This package sits above bench, reports and diagnostics and nothing imports it.
Declaring the jobs imports no torch; a job imports its work when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench import cli as bench_cli
from diagnostics import cli as diagnostics_cli
from reports import cli as reports_cli
from rnnref_cli import command


def parser() -> argparse.ArgumentParser:
    """The ``rnnref`` parser: one subcommand per job, in the order a user meets them."""
    main = command.Parser(
        prog="rnnref",
        description="Reference RNN/LSTM/GRU in NumPy, exact against torch; which "
        "implementation is fastest for your shapes and model; why your RNN does not learn.",
        epilog="Exit codes: 0 done; 1 the job found what it checks for (a failed row, a "
        "regression, an error finding, a missed aim); 2 bad arguments or input; 130 "
        "interrupted. 'rnnref COMMAND --help' gives a command's arguments.",
    )
    jobs = command.subcommands(main)
    bench = jobs.add_parser("bench", help=bench_cli.MATRIX.help)
    command.with_default_job(bench, bench_cli.MATRIX, (bench_cli.MODEL,))
    bench_cli.PROFILE.mount(jobs)
    bench_cli.REFERENCE_SPEED.mount(jobs)
    for job in (
        reports_cli.REPORT,
        reports_cli.COMPARE,
        reports_cli.TABLE,
        reports_cli.HISTORY,
        reports_cli.MERGE,
        diagnostics_cli.DIAGNOSE,
        diagnostics_cli.EVALUATE,
        diagnostics_cli.COST,
    ):
        job.mount(jobs)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """The ``rnnref`` console script; returns the exit code."""
    return command.run(parser(), argv)
