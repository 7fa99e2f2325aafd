"""``python -m diagnostics TARGET ...``: probe a model; write findings, report and TensorBoard.

Exit codes: 0 no finding of severity error; 1 at least one; 2 the target,
checkpoint or input could not be used (one line on stderr, no traceback unless
``--debug``). ``python -m diagnostics evaluate`` runs the fault corpus instead.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import torch

from diagnostics.pipeline import diagnose
from diagnostics.tboard import write_tensorboard
from reports.diagnose_report import write_diagnose_report
from reports.errors import ReportError
from reports.findingsfile import dump_findings
from usermodel.errors import UsageError
from usermodel.inputs import load_tensor, parse_spec
from usermodel.target import load_checkpoint, load_target, target_name


def parser() -> argparse.ArgumentParser:
    """The command-line parser for a diagnosis."""
    p = argparse.ArgumentParser(
        prog="python -m diagnostics",
        description="Probe a PyTorch model's recurrent layers for vanishing and exploding "
        "gradients and their causes. (python -m diagnostics evaluate: run the fault corpus.)",
    )
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
    p.add_argument("--steps", type=int, default=0, metavar="N", help="N Adam steps (default 0)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate for --steps")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=pathlib.Path, metavar="DIR", help="default out/diagnose/<name>")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _input(args: argparse.Namespace, model: torch.nn.Module) -> tuple[torch.Tensor, str]:
    if args.input is not None:
        spec = parse_spec(args.input)
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
        lines.append(f"  {f['severity'].upper():<8}{f['code']:<20}{f['summary']}")
    return lines


def run(args: argparse.Namespace) -> int:
    """One diagnosis from parsed arguments; returns the exit code (0 or 1)."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine")
    if args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be > 0, got {args.lr:g}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    torch.manual_seed(args.seed)
    model = load_target(args.target)
    if args.checkpoint is not None:
        load_checkpoint(model, args.checkpoint)
    model.to(args.device)
    x, input_label = _input(args, model)
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
    out = args.out or pathlib.Path("out", "diagnose", target_name(args.target))
    out.mkdir(parents=True, exist_ok=True)
    dump_findings(doc, out / "findings.json")
    write_tensorboard(doc, out / "tensorboard")
    write_diagnose_report(out / "findings.json", out / "report.html")
    print("\n".join(summary_lines(doc)))
    print(f"wrote {out / 'findings.json'}, {out / 'report.html'}, {out / 'tensorboard'}/")
    return 1 if any(f["severity"] == "error" for f in doc["findings"]) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"]:
        from diagnostics.evaluate import main as evaluate_main

        return evaluate_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return run(args)
    except (UsageError, ReportError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"diagnostics: error: {exc}", file=sys.stderr)
        return 2
