"""The reports command line: ``python -m reports {bench,compare,diagnose,table,history,merge}``.

``bench``, ``compare``, ``diagnose`` and ``history show`` write one self-contained
HTML report; ``table`` writes run files as one table; ``history add`` stores runs;
``merge`` joins the parts of a sharded run into one run file. The ``rnnref`` console
script mounts the same jobs as ``rnnref report`` (a run file or a findings file, told
apart by their content), ``rnnref compare``, ``rnnref table``, ``rnnref history`` and
``rnnref merge``.

Exit codes: 0 done; 1 ``compare --fail-above`` or ``history show --fail-above``
found a regression;
2 bad arguments or an input/output file that cannot be used (one line
``reports: error: ...`` on stderr naming the file and the problem, no traceback); 130
interrupted (Ctrl-C) before the report was complete (an older report at that path is
kept).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Callable, Sequence

from reports.errors import ReportError, read_input_text
from reports.output import check_output
from rnnref_cli import command
from rnnref_cli.command import Command


def _default_out(path: pathlib.Path, suffix: str = ".html") -> pathlib.Path:
    """``RUN.json -> RUN.html``; ``RUN.partial.jsonl -> RUN.partial.html`` (keeps the final's).

    Raises:
        ReportError: ``path`` is a folder (``/`` and ``.`` have no name to build one from).
    """
    if path.is_dir() or path.name in ("", "..", "."):
        raise ReportError(path, "is a directory, not a run or findings file")
    name = path.name.removesuffix(".jsonl").removesuffix(".json")
    return path.with_name(name + suffix)


def _write_report(
    source: pathlib.Path,
    output: pathlib.Path | None,
    write: Callable[[pathlib.Path, pathlib.Path], None],
) -> int:
    """``write(source, out)`` the report of one file, to ``output`` or beside ``source``."""
    out = output or _default_out(source)
    check_output(out, [source])
    write(source, out)
    print(out)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from reports.bench_report import write_bench_report

    return _write_report(args.run, args.output, write_bench_report)


def _latest_run(path: pathlib.Path) -> pathlib.Path:
    """``path``, or where it is a folder, the run file (``*.json``) last written in it: a
    run's ``--out`` folder gathers one run file per run.

    Raises:
        ReportError: the folder holds no run file.
    """
    if not path.is_dir():
        return path
    runs = sorted(path.glob("*.json"), key=lambda run: run.stat().st_mtime)
    if not runs:
        raise ReportError(path, "is a folder without a run file (*.json)")
    print(f"{path}: {runs[-1].name}, the .json file last written there")
    return runs[-1]


def _compare(args: argparse.Namespace) -> int:
    from reports.compare_report import write_compare_report

    base, new = _latest_run(args.base), _latest_run(args.new)
    out = args.output or new.with_name(
        f"compare-{_default_out(base, '').name}-{_default_out(new, '').name}.html"
    )
    check_output(out, [base, new])
    result = write_compare_report(base, new, out, args.fail_above)
    print(out)
    print(result.summary_line())
    if args.fail_above is None:
        return 0
    gate = result.gate(args.fail_above)
    if gate.machine_drift():
        print(f"note: {gate.machine_drift()}")
    if gate.passed:
        print(f"gate passed: {gate.reasons()[0]}")
        return 0
    for case in gate.cases:
        print(f"REGRESSION {case.describe()}", file=sys.stderr)
    for reason in gate.reasons():
        print(f"gate failed: {reason}", file=sys.stderr)
    print(
        f"{len(gate.cases)} regression(s): slower by more than {args.fail_above:g}% beyond noise",
        file=sys.stderr,
    )
    return 1


def _diagnose(args: argparse.Namespace) -> int:
    from reports.diagnose_report import write_diagnose_report

    return _write_report(args.findings, args.output, write_diagnose_report)


TABLE_COLUMNS = (
    "run_id",
    "case",
    "module",
    "median",
    "iqr",
    "rounds",
    "rel_err",
    "gflops",
    "pct_peak",
)
"""Columns ``table`` prints to the terminal (the files get every column)."""


def _table(args: argparse.Namespace) -> int:
    from reports.frame import load_runs, write_table

    out, form = (args.csv, "csv") if args.csv is not None else (args.parquet, "parquet")
    if out is not None:
        check_output(out, args.runs)
    frame = load_runs(*args.runs)
    if out is not None:
        write_table(frame, out, form)
        print(out)
        return 0
    shown = frame[list(TABLE_COLUMNS)].copy()
    shown["median"] *= 1e3
    shown["iqr"] *= 1e3
    shown = shown.rename(columns={"median": "median_ms", "iqr": "iqr_ms"})
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _history_add(args: argparse.Namespace) -> int:
    from reports import history

    engine = history.connect(args.db, create=True)
    for run_id, what in history.add(engine, args.runs):
        print(f"{run_id}: {what}")
    return 0


def _history_show(args: argparse.Namespace) -> int:
    from reports import history
    from reports.history_report import write_history_report

    out = args.output or pathlib.Path("out") / "history.html"
    database = history.sqlite_path(args.db)
    if database is not None and database.exists() and out.exists() and out.samefile(database):
        raise ReportError(out, "is the history database; give another output path")
    check_output(out)
    engine = history.connect(args.db, create=False)
    histories = history.judge(history.read(engine), args.fail_above or 0.0)
    write_history_report(histories, out, history.shown_url(args.db), args.fail_above)
    print(out)
    failed = False
    for h in histories:
        lines = h.regressions() if args.fail_above is not None else []
        print(
            f"{h.label} ({h.machine}): {len(h.runs)} runs, newest {h.newest}, shift {h.shift:.3f}x"
        )
        for line in lines:
            print(f"REGRESSION {h.newest}: {line}", file=sys.stderr)
        failed = failed or bool(lines)
    return 1 if failed else 0


def _merge(args: argparse.Namespace) -> int:
    from reports.merge import merge_runs

    merged = merge_runs(args.runs, args.output)
    missing = merged["rnnref"]["merged"]["missing"]
    if missing:
        print(
            f"warning: {len(missing)} case(s) missing (no part holds them; listed in "
            f"rnnref.merged.missing): {', '.join(missing)}",
            file=sys.stderr,
        )
    print(args.output)
    return 0


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a percentage >= 0, got {text!r}")
    return value


def _add_output(parser: argparse.ArgumentParser, default: str) -> None:
    """The ``-o/--output OUT.html`` option every command has; ``default`` says where it goes."""
    parser.add_argument("-o", "--output", type=pathlib.Path, metavar="OUT.html", help=default)


def _report(args: argparse.Namespace) -> int:
    """The report of a run file (or partial file) or of a findings file, by its content."""
    if _is_findings_file(args.file):
        from reports.diagnose_report import write_diagnose_report as write
    else:
        from reports.bench_report import write_bench_report as write
    return _write_report(args.file, args.output, write)


def _is_findings_file(path: pathlib.Path) -> bool:
    """A JSON object with ``findings`` and no ``benchmarks``; anything else is read (and
    judged) as a run file, and so is what is not a regular file (a pipe can be read once:
    ``python -m reports diagnose <(...)`` reads findings from one)."""
    import json

    if path.suffix == ".jsonl" or not path.is_file():
        return False
    try:
        doc = json.loads(read_input_text(path, ReportError, "run or findings file"))
    except ValueError:
        return False
    return isinstance(doc, dict) and "findings" in doc and "benchmarks" not in doc


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=pathlib.Path, metavar="FILE.json")
    _add_output(parser, "default: beside the file, same name with .html")


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=pathlib.Path, metavar="RUN.json")
    _add_output(parser, "default: beside the run file, same name with .html")


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    where = "a run file, or a folder: the run file last written in it"
    parser.add_argument("base", type=pathlib.Path, metavar="BASE", help=where)
    parser.add_argument("new", type=pathlib.Path, metavar="NEW", help=where)
    _add_output(parser, "default: compare-BASE-NEW.html beside NEW's run file")
    parser.add_argument(
        "--fail-above",
        type=_percent,
        metavar="PCT",
        help="exit 1 if any case is slower by more than PCT%% beyond noise",
    )


def _diagnose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("findings", type=pathlib.Path, metavar="FINDINGS.json")
    _add_output(parser, "default: beside the findings file, same name with .html")


def _table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--csv", type=pathlib.Path, metavar="F", help="write every column as CSV")
    where.add_argument(
        "--parquet", type=pathlib.Path, metavar="F", help="write every column as Parquet"
    )


DEFAULT_DATABASE = "sqlite:///out/history.sqlite"
"""The history's database when no ``--db`` is given (relative to the working folder)."""


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=DEFAULT_DATABASE,
        metavar="URL",
        help=f"SQLAlchemy URL (default {DEFAULT_DATABASE}; e.g. postgresql+psycopg://host/db)",
    )


def _history_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN.json")
    _database_argument(parser)


def _history_show_arguments(parser: argparse.ArgumentParser) -> None:
    _database_argument(parser)
    _add_output(parser, "default: out/history.html")
    parser.add_argument(
        "--fail-above",
        type=_percent,
        metavar="PCT",
        help="exit 1 if a machine's newest run regressed by more than PCT%% beyond its history",
    )


HISTORY_ADD = Command(
    "add",
    "store run files (a run already stored is skipped)",
    _history_add_arguments,
    _history_add,
    extra="history",
)
HISTORY_SHOW = Command(
    "show",
    "trends per case and machine; judge the newest runs",
    _history_show_arguments,
    _history_show,
    interrupted="an older report at that path is kept",
    extra="history",
)


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    actions = command.subcommands(parser)
    HISTORY_ADD.mount(actions)
    HISTORY_SHOW.mount(actions)


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN.json")
    parser.add_argument(
        "-o", "--output", type=pathlib.Path, required=True, metavar="OUT.json", help="merged run"
    )


KEPT = "an older report at that path is kept"

REPORT = Command(
    "report",
    "HTML report of a run file (bench) or a findings file (diagnose)",
    _report_arguments,
    _report,
    interrupted=KEPT,
    extra="reports",
)
BENCH = Command(
    "bench",
    "report of one run file or partial file",
    _bench_arguments,
    _bench,
    interrupted=KEPT,
    extra="reports",
)
COMPARE = Command(
    "compare",
    "compare two run files case by case; --fail-above gates a regression",
    _compare_arguments,
    _compare,
    interrupted=KEPT,
    extra="reports",
)
DIAGNOSE = Command(
    "diagnose",
    "report of a diagnostics findings file",
    _diagnose_arguments,
    _diagnose,
    interrupted=KEPT,
    extra="reports",
)
TABLE = Command(
    "table",
    "run files as one table: one row per case and run (reports.load_runs)",
    _table_arguments,
    _table,
    interrupted="an older table at that path is kept",
    extra="reports",
)
HISTORY = Command(
    "history",
    "a history of runs per machine in a SQL database (add, show)",
    _history_arguments,
    extra="history",
)
MERGE = Command(
    "merge",
    "join the parts of a sharded run (bench --shard K/N) into one run file",
    _merge_arguments,
    _merge,
    interrupted="an older file at that path is kept",
    extra="reports",
)


def parser() -> argparse.ArgumentParser:
    """``python -m reports``' parser: one subcommand per job."""
    main = command.Parser(
        prog="python -m reports",
        description="HTML reports, tables and a history of rnnref run files.",
        epilog="Exit codes: 0 done; 1 compare or history show --fail-above found a regression; "
        "2 bad arguments or an unusable input or output file.",
    )
    jobs = command.subcommands(main)
    for job in (BENCH, COMPARE, DIAGNOSE, TABLE, HISTORY, MERGE):
        job.mount(jobs)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reports``; returns the exit code."""
    return command.run(parser(), argv)
