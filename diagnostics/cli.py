"""The diagnostics command line: ``python -m diagnostics TARGET ...``, ``evaluate``, ``cost``.

``python -m diagnostics TARGET ...`` (also ``python -m diagnostics diagnose TARGET ...``)
probes a model and writes findings, report and TensorBoard; ``python -m diagnostics
evaluate`` scores the diagnosis on the corpus parts (:mod:`diagnostics.evaluation.evaluate`);
``python -m diagnostics cost`` measures what a diagnosis costs. The ``rnnref`` console
script mounts the same jobs as ``rnnref diagnose``, ``rnnref evaluate`` and ``rnnref
cost``.

Exit codes: 0 no finding of severity error; 1 at least one; 2 the target,
checkpoint, input or output folder could not be used, or the user's code called
``sys.exit`` (one line ``diagnostics: error: ...`` on stderr, no traceback unless
``--debug``); 3 an internal error of the suite itself, never the model's (one line, the
traceback in ``DIR/internal-error.txt`` and, with ``--debug``, on stderr); 130
interrupted (Ctrl-C), files already written are kept.
Arguments are checked before any work: ``--out`` must be creatable, ``--steps``
at most :data:`MAX_STEPS`, ``--lr`` finite and positive, ``--seed`` in
``0 .. 2**63-1``, and a SPEC's tensor must fit in the memory available.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import pathlib
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rnnref_cli import command
from rnnref_cli.command import Command, CommandError, at_least

if TYPE_CHECKING:
    import torch

    from usermodel.inputs import InputSpec

MAX_STEPS = 10_000
"""The most ``--steps`` a diagnosis takes (divergence shows within a few hundred)."""
MAX_SEED = 2**63 - 1
INTERNAL_ERROR_FILE = "internal-error.txt"
"""Where, in the output folder, an internal error of the suite leaves its traceback."""


def check_output(path: pathlib.Path, option: str, directory: bool = True) -> None:
    """CommandError now, before any work, if ``path`` could not be written at the end.

    An existing ``path`` must be a directory (``directory``) or a regular file; every
    name still to create must fit the file system's limit (ENAMETOOLONG); and a file
    must be creatable in the nearest existing directory (tried with a temporary file,
    so a read-only or pseudo file system is caught even as root). Leaves nothing behind.
    """
    path = pathlib.Path(os.path.abspath(path))
    kind = "directory" if directory else "regular file"
    ancestor = pathlib.Path(path.anchor)
    for part in path.relative_to(path.anchor).parts:
        try:
            (ancestor / part).stat()
        except FileNotFoundError:
            break
        except NotADirectoryError:
            raise CommandError(f"{option} {path}: {ancestor} is not a directory") from None
        except OSError as exc:
            raise CommandError(f"{option} {path}: {exc.strerror}") from None
        ancestor = ancestor / part
    if ancestor == path and (path.is_dir() != directory or not (directory or path.is_file())):
        raise CommandError(f"{option} {path}: exists and is not a {kind}")
    if ancestor == path and not directory:
        ancestor = path.parent
    if not ancestor.is_dir():
        raise CommandError(f"{option} {path}: {ancestor} is not a directory")
    name_max = os.pathconf(ancestor, "PC_NAME_MAX")
    for part in path.relative_to(ancestor).parts:
        if len(os.fsencode(part)) > name_max:
            raise CommandError(
                f"{option} {path}: {os.strerror(errno.ENAMETOOLONG)} (a name of "
                f"{len(os.fsencode(part))} bytes, at most {name_max} here)"
            )
    try:
        with tempfile.TemporaryFile(dir=ancestor, prefix=".diagnostics-probe-"):
            pass
    except OSError as exc:
        raise CommandError(f"{option} {path}: cannot write in {ancestor}: {exc.strerror}") from None


def _diagnose_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target", metavar="TARGET", help="path/to/file.py:factory or package.module:factory"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="SPEC", help="float32[32,50,16] or int64[32,40]<1000")
    source.add_argument(
        "--data", type=pathlib.Path, metavar="FILE", help="input tensor: .pt, .npy or .npz"
    )
    p.add_argument("--checkpoint", type=pathlib.Path, metavar="FILE", help="state_dict to load")
    p.add_argument(
        "--target",
        dest="target_file",
        type=pathlib.Path,
        metavar="FILE",
        help="the user's target (.pt, .npy, .npz) for --loss",
    )
    p.add_argument(
        "--loss", choices=("mse", "ce"), default="mse", help="loss with --target (default mse)"
    )
    p.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help=f"N Adam steps, at most {MAX_STEPS} (default 0)",
    )
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate for --steps")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0, help="0 .. 2**63-1 (default 0)")
    p.add_argument("--out", type=pathlib.Path, metavar="DIR", help="default out/diagnose/<name>")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _input(
    args: argparse.Namespace, spec: InputSpec | None, model: torch.nn.Module
) -> tuple[torch.Tensor, str]:
    import torch

    from usermodel.inputs import load_tensor

    if spec is not None:
        generator = torch.Generator().manual_seed(args.seed)
        return spec.sample(generator), f"--input {args.input}"
    x, where = load_tensor(args.data)
    label = f"--data {where}"
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if x.is_floating_point() and len(dtypes) == 1 and x.dtype not in dtypes:
        (dtype,) = dtypes
        label += f" (cast from {x.dtype} to the model's {dtype})"
        x = x.to(dtype)
    return x, label


def _progress(step: int, steps: int, loss: float, norm: float) -> None:
    done = step + 1
    line = f"step {done}/{steps}  loss {loss:.4g}  grad-norm {norm:.4g}"
    if sys.stderr.isatty():
        bar = "#" * (20 * done // steps)
        print(f"\r[{bar:<20}] {line}", end="" if done < steps else "\n", file=sys.stderr)
    elif done == steps or done % max(steps // 10, 1) == 0:
        print(line, file=sys.stderr)


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """The console summary: what was probed, then one line per finding."""
    probes = doc["probes"]
    modules = (
        ", ".join(
            f"{m['name']} ({m['type']}, {m['num_layers']} layer(s)"
            f"{', bidirectional' if m['bidirectional'] else ''})"
            for m in doc["modules"]
        )
        or "no recurrent layer"
    )
    lines = [
        f"{doc['target']}: {modules}",
        f"  input {probes['input']['source']}; output {probes['output']}",
        f"  objective: {probes['objective']}",
    ]
    training = probes.get("training")
    if training and training["losses"]:
        losses = [loss for loss in training["losses"] if loss is not None]
        line = f"  training: {training['steps_done']} Adam steps (lr {training['lr']:g})"
        if losses:
            line += f", loss {losses[0]:.4g} -> {losses[-1]:.4g}"
        if training["suggested_clip"] is not None:
            line += (
                f", suggested clip_grad_norm_ max_norm {training['suggested_clip']:.3g} "
                f"(above it on {training['clip_fraction']:.0%} of steps)"
            )
        lines.append(line)
    if not doc["findings"]:
        lines.append("  no findings")
    for f in doc["findings"]:
        code = f["code"].ljust(19) + " "  # a column of 20, wider for a longer code
        lines.append(f"  {f['severity'].upper():<8}{code}{f['summary']}")
    return lines


def run(args: argparse.Namespace) -> int:
    """One diagnosis from parsed arguments; returns the exit code (0 or 1).

    Raises:
        CommandError: an argument, the target, its checkpoint, input or output cannot be
            used, or the user's code called ``sys.exit``.
    """
    try:
        return _diagnose(args)
    except SystemExit as exc:  # only the user's code calls sys.exit inside a diagnosis
        from usermodel.errors import describe_exception

        raise CommandError(f"the model's code: {describe_exception(exc)}") from exc


def _diagnose(args: argparse.Namespace) -> int:
    import torch

    from diagnostics.pipeline import diagnose
    from diagnostics.tboard import write_tensorboard
    from reports.diagnose_report import write_diagnose_report
    from reports.findingsfile import dump_findings
    from usermodel.inputs import load_tensor, parse_spec
    from usermodel.target import load_checkpoint, load_target, target_name

    if args.device == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda: CUDA is not available on this machine")
    if not 0 <= args.steps <= MAX_STEPS:
        raise CommandError(f"--steps must be >= 0 and at most {MAX_STEPS}, got {args.steps}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise CommandError(f"--lr must be > 0 and finite, got {args.lr:g}")
    if not 0 <= args.seed <= MAX_SEED:
        raise CommandError(f"--seed must be >= 0 and at most 2**63-1, got {args.seed}")
    out = args.out or pathlib.Path("out", "diagnose", target_name(args.target))
    check_output(out, "--out")
    args.out = out  # where an internal error's traceback goes
    spec = None if args.input is None else parse_spec(args.input)
    torch.manual_seed(args.seed)
    model = load_target(args.target)
    if args.checkpoint is not None:
        load_checkpoint(model, args.checkpoint)
    model.to(args.device)
    x, input_label = _input(args, spec, model)
    target = None
    if args.target_file is not None:
        target = load_tensor(args.target_file, "target")[0].to(args.device)
    doc = diagnose(
        model,
        x.to(args.device),
        target_label=args.target,
        input_label=input_label,
        seed=args.seed,
        target=target,
        loss_kind=args.loss,
        steps=args.steps,
        lr=args.lr,
        progress=_progress,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        dump_findings(doc, out / "findings.json")
        write_tensorboard(doc, out / "tensorboard")
        write_diagnose_report(out / "findings.json", out / "report.html")
    except OSError as exc:  # e.g. the disk filled up during the diagnosis
        where = exc.filename or out
        raise CommandError(f"cannot write {where}: {exc.strerror or exc}") from None
    print("\n".join(summary_lines(doc)))
    print(f"wrote {out / 'findings.json'}, {out / 'report.html'}, {out / 'tensorboard'}/")
    return 1 if any(f["severity"] == "error" for f in doc["findings"]) else 0


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--healthy", type=at_least(0), default=50, help="healthy cases (default 50)")
    p.add_argument(
        "--repeats", type=at_least(1), default=1, help="seeds per fault and shape (default 1)"
    )
    p.add_argument("--every", type=at_least(1), default=1, metavar="K", help="keep every K-th case")
    p.add_argument(
        "--part",
        choices=("faults", "wild", "public", "outcomes", "both", "all"),
        default="all",
        help="fault corpus, models written as people write them, models written after "
        "public code, outcomes of real training runs; both: the first two; all: the four "
        "(default)",
    )
    p.add_argument(
        "--train",
        action="store_true",
        help="with --part outcomes: train the grid again and rewrite the outcome file "
        "(about 9 min of CPU; prints its estimate first and each run as it ends)",
    )
    p.add_argument(
        "--outcomes",
        type=pathlib.Path,
        default=None,
        metavar="FILE",
        help="the outcome file part 4 reads (and --train writes); default: the committed one",
    )
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/diagnose/evaluate.json"))
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")


def _evaluate(args: argparse.Namespace) -> int:
    from diagnostics.evaluation.evaluate import run_evaluation
    from diagnostics.evaluation.outcomes_grid import OUTCOMES_FILE

    if args.train and args.part != "outcomes":
        raise CommandError("--train: only with --part outcomes")
    check_output(args.out, "--out", directory=False)
    outcomes_file = args.outcomes or OUTCOMES_FILE
    if args.train:
        check_output(outcomes_file, "--outcomes", directory=False)
    return run_evaluation(
        args.healthy, args.repeats, args.every, args.part, args.out, outcomes_file, args.train
    )


def _cost_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=at_least(1), help="timed rounds (default 5; 3 with --corpus)")
    p.add_argument("--watch", action="store_true", help="measure diagnostics.watch instead")
    p.add_argument(
        "--every", type=at_least(1), default=100, help="with --watch: probe every N steps"
    )
    p.add_argument(
        "--samples", type=at_least(1), default=3, help="with --watch: sampled steps timed"
    )
    p.add_argument(
        "--corpus",
        choices=("wild", "public"),
        help="the diagnosis of every model of a corpus part instead, each against its own "
        "pass (--rounds: default 3 here)",
    )


def _cost(args: argparse.Namespace) -> int:
    rounds = {} if args.rounds is None else {"rounds": args.rounds}  # else each one's default
    if args.corpus:
        from diagnostics.evaluation.cost_corpus import over_budget
        from diagnostics.evaluation.cost_corpus import report as corpus_report

        rows = corpus_report(args.corpus, **rounds)
        return 1 if any(map(over_budget, rows)) else 0
    from diagnostics.evaluation.cost import report

    return report(**rounds, watched=args.watch, every=args.every, samples=args.samples)


DIAGNOSE = Command(
    "diagnose",
    "probe a model's recurrent layers for vanishing and exploding gradients",
    _diagnose_arguments,
    run,
    description="Probe a PyTorch model's recurrent layers for vanishing and exploding "
    "gradients and their causes; write findings.json, report.html and TensorBoard logs.",
    interrupted="files already written are kept",
    extra="diagnostics",
    traceback_file=lambda args: args.out and args.out / INTERNAL_ERROR_FILE,
)
EVALUATE = Command(
    "evaluate",
    "score the diagnosis on its corpora and against the outcomes of real training runs",
    _evaluate_arguments,
    _evaluate,
    extra="diagnostics",
    traceback_file=lambda args: args.out.parent / INTERNAL_ERROR_FILE,
)
COST = Command(
    "cost",
    "what a diagnosis (or --watch, a watched training step) costs in passes of the model",
    _cost_arguments,
    _cost,
    extra="diagnostics",
)


def parser() -> argparse.ArgumentParser:
    """``python -m diagnostics``' parser: a diagnosis, ``evaluate`` and ``cost``."""
    main = command.Parser(prog="python -m diagnostics")
    command.with_default_job(main, DIAGNOSE, (EVALUATE, COST))
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m diagnostics``; returns the exit code."""
    return command.run(parser(), argv)
