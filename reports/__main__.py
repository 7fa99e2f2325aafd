"""``python -m reports {bench,compare,diagnose}``: write one self-contained HTML report;
``python -m reports merge RUN... -o OUT.json``: join the parts of a sharded run.

Exit codes: 0 report written; 1 ``compare --fail-above`` found a regression;
2 bad arguments or an input/output file that cannot be used (one line on
stderr naming the file and the problem, no traceback).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from reports.errors import ReportError


def _default_out(path: pathlib.Path, suffix: str = ".html") -> pathlib.Path:
    """``RUN.json -> RUN.html``; ``RUN.partial.jsonl -> RUN.partial.html`` (keeps the final's)."""
    name = path.name.removesuffix(".jsonl").removesuffix(".json")
    return path.with_name(name + suffix)


def _bench(args: argparse.Namespace) -> int:
    from reports.bench_report import write_bench_report

    out = args.output or _default_out(args.run)
    write_bench_report(args.run, out)
    print(out)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from reports.compare_report import write_compare_report

    out = args.output or args.new.with_name(
        f"compare-{_default_out(args.base, '').name}-{_default_out(args.new, '').name}.html"
    )
    result = write_compare_report(args.base, args.new, out)
    print(out)
    print(result.summary_line())
    if args.fail_above is None:
        return 0
    regressions = result.regressions(args.fail_above)
    for line in regressions:
        print(f"REGRESSION {line}", file=sys.stderr)
    if regressions:
        print(
            f"{len(regressions)} regression(s): slower by more than {args.fail_above:g}% "
            "beyond noise",
            file=sys.stderr,
        )
        return 1
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from reports.diagnose_report import write_diagnose_report

    out = args.output or _default_out(args.findings)
    write_diagnose_report(args.findings, out)
    print(out)
    return 0


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
        description="Write one self-contained HTML report.",
        epilog="Exit codes: 0 written; 1 compare --fail-above found a regression; "
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


if __name__ == "__main__":
    sys.exit(main())
