"""The bench command line: ``python -m bench`` and ``rnnref bench``, ``bench model``, ``profile``.

``python -m bench [--preset P] [--shape SHAPE ...] [--filter EXPR] [--out DIR]
[--threads N] [--shard K/N | --ray ADDRESS [--parts N]]`` runs the matrix;
``python -m bench model TARGET (--input SPEC | --data FILE) [--checkpoint FILE]
[--preset P] [--filter EXPR] [--build-limit SECONDS] [--out DIR] [--threads N]`` the
user's model;
``python -m bench profile CASE-ID [--native] [--out DIR] [--seconds S]`` profiles one case.
The ``rnnref`` console script mounts the same jobs as ``rnnref bench``, ``rnnref bench
model`` and ``rnnref profile``.

Exit codes: 0 done; 1 some row failed (e.g. refused by the correctness gate) or
profiling failed, or with --ray a part was lost; 2 bad arguments or an output that cannot
be written (one line ``bench: error: ...`` on stderr, no traceback); 130 interrupted
(Ctrl-C: a run keeps its finished rows in the partial file and writes their report; a
profile writes nothing and keeps an earlier flame graph).
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
from collections.abc import Sequence

from rnnref_cli import command
from rnnref_cli.command import Command, CommandError, at_least

DEFAULT_OUT = pathlib.Path("out/bench")

BUILD_LIMIT_S = 180.0
"""Default of ``bench model --build-limit``: a path still building after this many seconds
(its script, trace, export or quantization and its first call, compilation included) is
skipped."""

PRESET_NAMES = ("smoke", "quick", "full", "gpu")
"""The names of bench.presets.PRESETS, for --help without importing torch (a test keeps
the two equal)."""


def _out_argument(parser: argparse.ArgumentParser, help: str = "output directory") -> None:
    parser.add_argument(
        "--out", type=pathlib.Path, default=DEFAULT_OUT, help=f"{help} (default {DEFAULT_OUT})"
    )


def _matrix_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", default="quick", help=f"one of {', '.join(PRESET_NAMES)} (default quick)"
    )
    parser.add_argument(
        "--shape",
        dest="shapes",
        action="append",
        metavar="SHAPE",
        help="your shape instead of the preset's cases, every backend and mode, timed as "
        "--preset; CELL-bB-tT-iI-hH-lL-uni|bi[-packed-fFILL], e.g. lstm-b8-t50-i32-h64-l2-bi "
        "(repeat for more)",
    )
    parser.add_argument(
        "--filter", dest="expression", help="pytest -k style expression over case ids"
    )
    _out_argument(parser)
    parser.add_argument(
        "--threads", type=int, help="torch and BLAS threads (default: torch's default)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--shard",
        metavar="K/N",
        help="only the K-th of N disjoint parts of the cases, balanced by expected time; "
        "join the parts with: python -m reports merge RUN... -o OUT.json",
    )
    where.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the parts as Ray tasks, one at a time per node (nodes advertise the "
        "resource rnnref_bench_slot), merged per machine type; 'local' starts Ray here",
    )
    parser.add_argument(
        "--parts", type=int, help="with --ray: how many parts (default: the cluster's slots)"
    )
    parser.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="write the run file without its HTML report (python -m reports bench RUN.json "
        "writes it later)",
    )


def _run_matrix(args: argparse.Namespace) -> int:
    from bench.run import BadArgument, run

    if args.parts is not None and not args.ray:
        raise BadArgument("--parts needs --ray")
    if args.ray:
        from bench.ray_runner import run_on_ray

        return run_on_ray(
            args.ray,
            args.preset,
            args.expression,
            args.out,
            args.threads,
            args.shapes,
            args.parts,
            report=args.report,
        )
    shard = _shard(args.shard) if args.shard else None
    return run(
        args.preset,
        args.expression,
        args.out,
        threads=args.threads,
        shapes=args.shapes,
        shard=shard,
        report=args.report,
    )


def _shard(text: str) -> tuple[int, int]:
    from bench.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="TARGET", help="path/to/file.py:factory or module:factory"
    )
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--input", metavar="SPEC", help="e.g. float32[32,50,16] or int64[32,40]<1000"
    )
    given.add_argument("--data", metavar="FILE", help="an input tensor: .pt, .npy or .npz")
    parser.add_argument("--checkpoint", metavar="FILE", help="a state_dict to load (.pt)")
    parser.add_argument(
        "--preset",
        default="quick",
        help=f"how rows are timed: {', '.join(PRESET_NAMES)} (default quick)",
    )
    parser.add_argument(
        "--filter",
        dest="expression",
        help="pytest -k style expression over case ids "
        "(model rows are model-MODE-PATH, e.g. 'not compile')",
    )
    parser.add_argument(
        "--build-limit",
        type=_seconds,
        default=BUILD_LIMIT_S,
        metavar="SECONDS",
        help="skip a path whose build (script, trace, export, compile and its first call) "
        f"runs longer (default {BUILD_LIMIT_S:g})",
    )
    _out_argument(parser)
    parser.add_argument("--threads", type=int, help="torch and BLAS threads")


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def _run_model(args: argparse.Namespace) -> int:
    """Load the model, record the recurrent layers it calls and their shapes, run."""
    import torch

    from bench.model import ModelBench, exit_past_abandoned_builds, load_user_model
    from bench.run import choose_preset, matcher, run
    from bench.seen import seen_layers

    timing = choose_preset(args.preset, None)
    keep = matcher(args.expression)
    user = load_user_model(args.target, args.input, args.data, args.checkpoint)
    with torch.no_grad():
        layers = seen_layers(user.model, lambda: user.call(user.model, user.x))
    shapes = list(dict.fromkeys(layer.shape for layer in layers if layer.shape))
    model = ModelBench(
        user, timing, keep, [layer.record() for layer in layers], args.checkpoint, args.build_limit
    )
    code = run(args.preset, args.expression, args.out, args.threads, shapes=shapes, model=model)
    exit_past_abandoned_builds(code)
    return code


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "case_id",
        metavar="CASE-ID",
        help="e.g. lstm-inference-torch-b64-t100-i256-h256-l1-uni-padded-f1",
    )
    parser.add_argument("--native", action="store_true", help="include native (C/C++) frames")
    _out_argument(parser, "writes DIR/profiles/<case-id>.svg")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long to record, at most 3600 (default 10)"
    )


def _run_profile(args: argparse.Namespace) -> int:
    from bench.profile import profile

    try:
        svg = profile(args.case_id, args.out, native=args.native, seconds=args.seconds)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write to {args.out}: {exc.strerror}") from None
    print(f"flame graph: {svg}")
    return 0


def _positive_ints(text: str) -> list[int]:
    """An argparse type: positive integers separated by commas, e.g. ``1,16,64``."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _cells(text: str) -> list[str]:
    """An argparse type: cells of the reference-speed measurement, e.g. ``lstm,gru``."""
    from bench.reference_speed import BAR_CELLS, unknown_cells

    cells = text.split(",")
    if unknown := unknown_cells(cells):
        raise argparse.ArgumentTypeError(
            f"unknown cell {unknown[0]!r}; choose from {', '.join(BAR_CELLS)}"
        )
    return cells


def _reference_speed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cells", type=_cells, help="comma-separated: lstm, gru, rnn_tanh (default all)"
    )
    parser.add_argument(
        "--batches", type=_positive_ints, default=[1, 16, 64], help="default 1,16,64"
    )
    parser.add_argument("--rounds", type=at_least(1), default=15, help="default 15")
    parser.add_argument(
        "--threads", type=at_least(1), default=os.cpu_count() or 1, help="default: every core"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", type=pathlib.Path, help="also write the rows to this JSON file")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a batch-64 row misses the bar"
    )


def _run_reference_speed(args: argparse.Namespace) -> int:
    from bench.reference_speed import report

    return report(
        args.cells,
        args.batches,
        args.rounds,
        args.threads,
        not args.no_memory,
        args.json,
        args.check,
    )


MATRIX = Command(
    "bench",
    "run the benchmark matrix (a preset, or your --shape) and write a run file and report",
    _matrix_arguments,
    _run_matrix,
    description="Run the benchmark matrix and write DIR/<run-id>.json and .html.",
    interrupted="the finished rows are in the partial file",
    extra="bench",
)
MODEL = Command(
    "model",
    "time your whole model under every deployment path, checked against float64",
    _model_arguments,
    _run_model,
    description="Time your whole model under every deployment path that applies (eager, "
    "TorchScript, torch.compile, int8, fp16, bf16, ONNX Runtime, CUDA), each checked "
    "against the eager model in float64, and its recurrent layers at the shapes they see.",
    interrupted="the finished rows are in the partial file",
    extra="bench",
)
PROFILE = Command(
    "profile",
    "py-spy flame graph of one benchmark case",
    _profile_arguments,
    _run_profile,
    interrupted="no flame graph written (an earlier one is kept)",
    extra="profile",
)


REFERENCE_SPEED = Command(
    "reference-speed",
    "rnnref against torch eager on the CPU, side by side, and peak memory (the speed bar)",
    _reference_speed_arguments,
    _run_reference_speed,
    extra="bench",
)


def parser() -> argparse.ArgumentParser:
    """``python -m bench``' parser: the matrix, and ``model`` and ``profile``."""
    main = command.Parser(prog="python -m bench")
    command.with_default_job(main, MATRIX, (MODEL, PROFILE))
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench``; returns the exit code."""
    return command.run(parser(), argv)
