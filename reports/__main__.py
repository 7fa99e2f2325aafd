"""``python -m reports {bench,compare,diagnose,table,history,merge}``: reports, tables, history.

``bench``, ``compare``, ``diagnose`` and ``history show`` write one self-contained
HTML report; ``table`` writes run files as one table; ``history add`` stores runs;
``merge`` joins the parts of a sharded run into one run file.

Exit codes: 0 done; 1 ``compare --fail-above`` or ``history show --fail-above``
found a regression;
2 bad arguments or an input/output file that cannot be used (one line on
stderr naming the file and the problem, no traceback); 130 interrupted (Ctrl-C)
before the report was complete (an older report at that path is kept).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from reports.errors import ReportError
from reports.output import check_output


def _default_out(path: pathlib.Path, suffix: str = ".html") -> pathlib.Path:
    """``RUN.json -> RUN.html``; ``RUN.partial.jsonl -> RUN.partial.html`` (keeps the final's)."""
    name = path.name.removesuffix(".jsonl").removesuffix(".json")
    return path.with_name(name + suffix)


def _bench(args: argparse.Namespace) -> int:
    from reports.bench_report import write_bench_report

    out = args.output or _default_out(args.run)
    check_output(out, [args.run])
    write_bench_report(args.run, out)
    print(out)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from reports.compare_report import write_compare_report

    out = args.output or args.new.with_name(
        f"compare-{_default_out(args.base, '').name}-{_default_out(args.new, '').name}.html"
    )
    check_output(out, [args.base, args.new])
    result = write_compare_report(args.base, args.new, out, args.fail_above)
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

    out = args.output or _default_out(args.findings)
    check_output(out, [args.findings])
    write_diagnose_report(args.findings, out)
    print(out)
    return 0


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


def _add_output(command: argparse.ArgumentParser, default: str) -> None:
    """The ``-o/--output OUT.html`` option every command has; ``default`` says where it goes."""
    command.add_argument("-o", "--output", type=pathlib.Path, metavar="OUT.html", help=default)


def parser() -> argparse.ArgumentParser:
    """The command-line parser with the bench, compare and diagnose subcommands."""
    main = argparse.ArgumentParser(
        prog="python -m reports",
        description="HTML reports, tables and a history of rnnref run files.",
        epilog="Exit codes: 0 done; 1 compare or history show --fail-above found a regression; "
        "2 bad arguments or an unusable input or output file.",
    )
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = sub.add_parser("bench", help="report of one run file or partial file")
    bench.add_argument("run", type=pathlib.Path, metavar="RUN.json")
    _add_output(bench, "default: beside the run file, same name with .html")
    bench.set_defaults(handler=_bench)

    compare = sub.add_parser("compare", help="compare two run files case by case")
    compare.add_argument("base", type=pathlib.Path, metavar="BASE.json")
    compare.add_argument("new", type=pathlib.Path, metavar="NEW.json")
    _add_output(compare, "default: compare-BASE-NEW.html beside NEW.json")
    compare.add_argument(
        "--fail-above",
        type=_percent,
        metavar="PCT",
        help="exit 1 if any case is slower by more than PCT%% beyond noise",
    )
    compare.set_defaults(handler=_compare)

    diagnose = sub.add_parser("diagnose", help="report of a diagnostics findings file")
    diagnose.add_argument("findings", type=pathlib.Path, metavar="FINDINGS.json")
    _add_output(diagnose, "default: beside the findings file, same name with .html")
    diagnose.set_defaults(handler=_diagnose)

    table = sub.add_parser(
        "table", help="run files as one table: one row per case and run (reports.load_runs)"
    )
    table.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN")
    where = table.add_mutually_exclusive_group()
    where.add_argument("--csv", type=pathlib.Path, metavar="F", help="write every column as CSV")
    where.add_argument(
        "--parquet", type=pathlib.Path, metavar="F", help="write every column as Parquet"
    )
    table.set_defaults(handler=_table)

    from reports.history import default_url

    hist = sub.add_parser("history", help="a history of runs per machine in a SQL database")
    hist_sub = hist.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_help = f"SQLAlchemy URL (default {default_url()}; e.g. postgresql+psycopg://host/db)"
    add = hist_sub.add_parser("add", help="store run files (a run already stored is skipped)")
    add.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN.json")
    add.add_argument("--db", default=default_url(), metavar="URL", help=db_help)
    add.set_defaults(handler=_history_add)
    show = hist_sub.add_parser("show", help="trends per case and machine; judge the newest runs")
    show.add_argument("--db", default=default_url(), metavar="URL", help=db_help)
    _add_output(show, "default: out/history.html")
    show.add_argument(
        "--fail-above",
        type=_percent,
        metavar="PCT",
        help="exit 1 if a machine's newest run regressed by more than PCT%% beyond its history",
    )
    show.set_defaults(handler=_history_show)

    merge = sub.add_parser("merge", help="join the parts of a sharded run (bench --shard K/N)")
    merge.add_argument("runs", type=pathlib.Path, nargs="+", metavar="RUN.json")
    merge.add_argument(
        "-o", "--output", type=pathlib.Path, required=True, metavar="OUT.json", help="merged run"
    )
    merge.set_defaults(handler=_merge)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
