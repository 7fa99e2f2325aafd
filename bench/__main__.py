"""Command line: ``python -m bench [--preset P] [--shape SHAPE ...] [--filter EXPR] [--out DIR]
[--threads N] [--shard K/N | --ray ADDRESS [--parts N]]``,
``python -m bench model TARGET (--input SPEC | --data FILE) [--checkpoint FILE]
[--preset P] [--filter EXPR] [--out DIR] [--threads N]`` and
``python -m bench profile CASE-ID [--native] [--out DIR] [--seconds S]``.

Exit codes: 0 done; 1 some row failed (e.g. refused by the correctness gate) or
profiling failed, or with --ray a part was lost; 2 bad arguments or an output that cannot
be written (one line ``bench: error: ...`` on stderr, no traceback); 130 interrupted
(Ctrl-C: a run keeps its finished rows in the partial file and writes their report; a
profile writes nothing and keeps an earlier flame graph).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from bench.presets import PRESETS

DEFAULT_OUT = pathlib.Path("out/bench")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``bench: error: ...`` and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"bench: error: {message} (see {self.prog} --help)\n")


def _run_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench",
        description="Run the benchmark matrix and write DIR/<run-id>.json and .html. "
        "Profile one case with: python -m bench profile CASE-ID [--native].",
    )
    parser.add_argument(
        "--preset", default="quick", help=f"one of {', '.join(PRESETS)} (default quick)"
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
    parser.add_argument(
        "--out", type=pathlib.Path, default=DEFAULT_OUT, help="output directory (default out/bench)"
    )
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
    return parser


def _profile_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench profile", description="py-spy flame graph of one case.")
    parser.add_argument(
        "case_id",
        metavar="CASE-ID",
        help="e.g. lstm-inference-torch-b64-t100-i256-h256-l1-uni-padded-f1",
    )
    parser.add_argument("--native", action="store_true", help="include native (C/C++) frames")
    parser.add_argument(
        "--out", type=pathlib.Path, default=DEFAULT_OUT, help="writes DIR/profiles/<case-id>.svg"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long to record, at most 3600 (default 10)"
    )
    return parser


def _model_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench model",
        description="Time your whole model under every deployment path that applies (eager, "
        "TorchScript, torch.compile, int8, fp16, bf16, ONNX Runtime, CUDA), each checked "
        "against the eager model in float64, and its recurrent layers at the shapes they see.",
    )
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
        "--preset", default="quick", help=f"how rows are timed: {', '.join(PRESETS)} (quick)"
    )
    parser.add_argument(
        "--filter",
        dest="expression",
        help="pytest -k style expression over case ids "
        "(model rows are model-MODE-PATH, e.g. 'not compile')",
    )
    parser.add_argument(
        "--out", type=pathlib.Path, default=DEFAULT_OUT, help="output directory (default out/bench)"
    )
    parser.add_argument("--threads", type=int, help="torch and BLAS threads")
    return parser


def _model(argv: list[str]) -> int:
    """``python -m bench model ...``: load the model, record its layers, run."""
    import torch

    from bench.model import ModelBench, load_user_model
    from bench.run import UsageError, choose_preset, matcher, run
    from bench.seen import seen_layers
    from usermodel import UsageError as ModelError

    args = _model_parser().parse_args(argv)
    try:
        timing = choose_preset(args.preset, None)
        keep = matcher(args.expression)
        user = load_user_model(args.target, args.input, args.data, args.checkpoint)
        with torch.no_grad():
            layers = seen_layers(user.model, lambda: user.model(user.x))
        shapes = list(dict.fromkeys(layer.shape for layer in layers if layer.shape))
        model = ModelBench(
            user, timing, keep, [layer.record() for layer in layers], args.checkpoint
        )
        return run(args.preset, args.expression, args.out, args.threads, shapes=shapes, model=model)
    except (UsageError, ModelError) as exc:
        return _fail(str(exc))


def _fail(message: str, code: int = 2) -> int:
    print(f"bench: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["profile"]:
        from bench.profile import ProfileError, profile

        args = _profile_parser().parse_args(argv[1:])
        try:
            svg = profile(args.case_id, args.out, native=args.native, seconds=args.seconds)
        except ValueError as exc:
            return _fail(str(exc))
        except ProfileError as exc:
            return _fail(str(exc), code=1)
        except OSError as exc:
            return _fail(f"cannot write to {args.out}: {exc.strerror}")
        except KeyboardInterrupt:
            print("bench: interrupted; no flame graph written", file=sys.stderr)
            return 130
        print(f"flame graph: {svg}")
        return 0

    if argv[:1] == ["model"]:
        return _model(argv[1:])

    from bench.run import UsageError, run

    args = _run_parser().parse_args(argv)
    try:
        if args.parts is not None and not args.ray:
            raise UsageError("--parts needs --ray")
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
            )
        shard = _shard(args.shard) if args.shard else None
        return run(
            args.preset,
            args.expression,
            args.out,
            threads=args.threads,
            shapes=args.shapes,
            shard=shard,
        )
    except UsageError as exc:
        return _fail(str(exc))


def _shard(text: str) -> tuple[int, int]:
    from bench.run import UsageError
    from bench.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
