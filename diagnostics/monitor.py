"""The probes inside the user's own training loop: ``diagnostics.watch(model)``.

    with diagnostics.watch(model, log_dir="runs/diag", every=50) as monitor:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            monitor.step(loss)        # after backward, before optimizer.step()
            optimizer.step(); optimizer.zero_grad()

Every ``every``-th step (0, every, 2*every, ...) is probed on its real batch
and its real gradient: the capture hooks of the command line
(:class:`~diagnostics.capture.Capture`) are installed just before that step's
forward and removed in ``monitor.step``, so the steps between carry no hook
at all (``monitor.step`` then only counts). Each recurrent layer's call is
replayed through rnnref with the upstream gradient the user's loss really
produced, and probed as the command probes it, on SEQUENCES of the batch's sequences
(drawn anew at each sampled step). The watch never changes what
the user's optimizer sees: parameters, gradients, modes and the random state
are as they would be unwatched. A stacked layer with inter-layer dropout in
training mode draws masks that cannot be replayed; its replay runs without
dropout and is checked against the same torch layer run without dropout
(float64) on the same input and upstream gradient (``replay_note`` says so).

Each sampled step also records the settings the loop runs with (threads against cores,
anomaly detection: :mod:`diagnostics.probes.stepcost`); a layer whose real gradient is
subnormal has the cure timed on its captured call once, at the first sampled step that
shows it (three forward+backward passes of that layer, on a copy).

TensorBoard scalars and histograms go to ``log_dir`` (or the user's own
``SummaryWriter``, which is written to and left open) at the training step,
so the curves show horizon, saturation, spectrum and gradient norms moving
over training; a rerun into the same ``log_dir`` purges the earlier curves
from step 0 on (TensorBoard's ``purge_step``) instead of drawing them twice.
On exit (Ctrl-C included) ``log_dir/findings.json`` and ``log_dir/report.html``
hold the findings of every sampled step, merged.
"""

from __future__ import annotations

import math
import pathlib
from types import TracebackType
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from diagnostics import rules
from diagnostics.capture import Capture
from diagnostics.pipeline import (
    findings_document,
    probe_cells,
    probe_chains,
    probe_recurrent,
    probes_document,
    recurrent_modules,
)
from diagnostics.probes import nonfinite, training
from diagnostics.probes.stats import num
from diagnostics.replay import torch_float64_grad
from diagnostics.tboard import write_watch_step
from reports.diagnose_report import write_diagnose_report
from reports.findingsfile import FindingsDocument, dump_findings
from reports.notebook import watch_html

SEQUENCES = 8
"""Sequences of each sampled batch a layer's replay runs on (drawn anew at each sampled
step; ``watch(sequences=None)`` replays them all). The replay's cost grows with them; the
probes' curves are RMS over sequences and their saturation counts steps x units, which
8 sequences of a real batch already fill."""


def _positive_int(value: object) -> bool:
    """Whether ``value`` is an int of at least 1 (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _scale(scaler: torch.amp.GradScaler | None) -> float:
    """The factor a GradScaler put on the gradients (1 without one, or when disabled)."""
    return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0


def _random_dropout(module: nn.RNNBase) -> bool:
    """True when torch drew random inter-layer dropout masks in this module's forward."""
    return module.training and module.num_layers > 1 and module.dropout > 0


def _history_entry(step: int, probes: dict[str, Any]) -> dict[str, Any]:
    """The key numbers of one sampled step, per layer and direction (for the curves)."""
    layers = []
    for record in probes["recurrent"]:
        ratios = [
            b["sigma_max"] / b["bound"]
            for b in record["spectrum"]["blocks"].values()
            if b["sigma_max"] is not None
        ]
        stats = [*record["saturation"]["gates"].values(), record["saturation"]["units"]]
        hard = [s["hard"] for s in stats if s is not None and s["hard"] is not None]
        layers.append(
            {
                "module": record["module"],
                "layer": record["layer"],
                "direction": record["direction"],
                "steps": record["steps"],
                "horizon": record["horizon"],
                "decay_per_step": record["decay_per_step"],
                "growth": record["growth"],
                "sigma_over_bound": max(ratios) if ratios else None,
                "saturation": max(hard) if hard else None,
                "h_n_norm": record["h_n_norm"],
            }
        )
    return {
        "step": step,
        "loss": probes["loss"],
        "grad_norm": probes["whole_model"]["global_grad_norm"],
        "layers": layers,
    }


def _when(steps: list[int], sampled: int) -> str:
    if sampled <= 1:
        return f" (at step {steps[0]})"
    return f" (from step {steps[0]}; at {len(steps)} of {sampled} sampled steps)"


class Monitor:
    """Probes every ``every``-th training step of ``model``; see the module docstring.

    ``findings`` (after :meth:`close`) is the findings document also written
    to ``log_dir/findings.json``, with ``log_dir/report.html`` unless ``report`` is False
    (a caller that reads the findings alone saves the report's seconds). In Jupyter a
    monitor shows what it has recorded so far (:meth:`_repr_html_`).
    """

    def __init__(
        self,
        model: nn.Module,
        log_dir: str | pathlib.Path = "runs/diag",
        every: int = 50,
        writer: SummaryWriter | None = None,
        seed: int = 0,
        report: bool = True,
        sequences: int | None = SEQUENCES,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"watch: model must be an nn.Module, not {type(model).__name__}")
        if not _positive_int(every):
            raise ValueError(f"watch: every must be a positive integer, got {every!r}")
        if sequences is not None and not _positive_int(sequences):
            raise ValueError(
                f"watch: sequences must be a positive integer or None, got {sequences!r}"
            )
        self.model = model
        self.log_dir = pathlib.Path(log_dir)
        self.every = every
        self.seed = seed
        self.report = report
        self.sequences = sequences
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._own_writer = writer is None
        self.writer = writer or SummaryWriter(log_dir=str(self.log_dir), purge_step=0)
        self._index = 0
        self._capture: Capture | None = None
        self._snapshot: dict[str, torch.Tensor] | None = None
        self._update_checks: list[dict[str, Any]] = []
        self._losses: list[float] = []
        self._grad_norms: list[float] = []
        self._steps: list[int] = []
        self._history: list[dict[str, Any]] = []
        self._scaler_skipped: list[int] = []
        self._last: dict[str, Any] | None = None
        self._findings: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._flush_measured: dict[str, dict[str, Any] | None] = {}
        self.findings: FindingsDocument | None = None
        self._arm()

    # ------------------------------------------------------------ the loop

    def step(self, loss: torch.Tensor, scaler: torch.amp.GradScaler | None = None) -> None:
        """Count one training step; probe it when it is a sampled one.

        Call after ``loss.backward()`` and before ``optimizer.step()``. With AMP,
        pass the GradScaler and call this before ``scaler.unscale_``: every
        gradient read is divided by ``scaler.get_scale()``, and a step whose
        scaled gradients overflowed (the scaler skips it) is not probed; the
        next step is probed instead.

        Raises:
            RuntimeError: on a sampled step, no parameter holds a gradient
                (``step`` came before ``backward`` or after ``zero_grad``).
        """
        index = self._index
        self._index += 1
        retry = False
        if self._capture is not None:
            if self._snapshot is not None:
                self._check_updates()
            # One BLAS thread: the probe's NumPy products are small (8 sequences a step), a
            # second thread only adds its wake-up and, on a busy machine, waits for a core;
            # and OpenBLAS's threads spin after their last call, slowing the training step
            # that comes next.
            with threadpool_limits(limits=1, user_api="blas"):
                retry = not self._probe(index, loss, _scale(scaler))
        if retry or self._index % self.every == 0:
            self._arm()

    def _arm(self) -> None:
        """Install the capture hooks for the next forward (that of a sampled step)."""
        self._capture = Capture(self.model).__enter__()

    def _disarm(self) -> Capture:
        capture, self._capture = self._capture, None
        assert capture is not None
        capture.__exit__(None, None, None)
        return capture

    def _probe(self, index: int, loss: torch.Tensor, grad_scale: float) -> bool:
        """Probe step ``index``; False when a GradScaler will skip it (not probed)."""
        capture = self._disarm()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if trainable and all(p.grad is None for p in trainable):
            raise RuntimeError(
                "watch: no parameter has a gradient at this step: call monitor.step(loss) "
                "after loss.backward() and before optimizer.zero_grad()"
            )
        if grad_scale != 1.0 and nonfinite.parameters_nonfinite(self.model)["grads"]:
            self._scaler_skipped.append(index)
            return False
        kept = capture.kept_states(self.model)
        capture.recompute_cells()  # the user's backward freed the loops' graphs
        capture.finish(self.seed, graph_kept=False)  # the user's backward freed it
        if grad_scale != 1.0:
            for call in capture.layers.values():
                call.unscale(grad_scale)
            for loop in capture.cells.values():
                if loop.grad_states is not None:
                    loop.grad_states = loop.grad_states / grad_scale
        if self.sequences is not None:
            self._narrow(capture, index)
        modules = recurrent_modules(self.model)
        for call in capture.layers.values():
            if _random_dropout(call.module):
                call.grad_input = torch_float64_grad(
                    call.module, call.x, call.hx, call.lengths, call.grad_out, call.grad_hn
                )
                modules[call.name]["replay_note"] = (
                    f"inter-layer dropout {call.module.dropout:g} in training mode: replayed "
                    "without dropout, checked against the torch layer without dropout"
                )
        records = (
            probe_recurrent(capture.layers, modules, self.seed, self._flush_measured)
            + probe_chains(capture, modules)
            + probe_cells(capture, modules)
        )
        loss_value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        facts = {
            **self._loop_facts(f"the user's loss at training step {index}"),
            "loss": num(loss_value),
            "real_objective": True,
            "loss_broadcast": None,
            "kept_states": kept,
            "step": index,
        }
        probes = probes_document(self.model, facts, records, capture.nonfinite, None, grad_scale)
        self._steps.append(index)
        self._losses.append(loss_value)
        grad_norm = probes["whole_model"]["global_grad_norm"]
        self._grad_norms.append(math.inf if grad_norm is None else grad_norm)
        module_list = list(modules.values())
        for finding in rules.evaluate(module_list, probes, ("pass", "module")):
            self._merge(finding, index)
        self._history.append(_history_entry(index, probes))
        write_watch_step(self.writer, probes, index)
        self.writer.flush()
        self._last = {"modules": module_list, "probes": probes}
        self._snapshot = {
            name: p.detach().clone()
            for name, p in self.model.named_parameters()
            if p.grad is not None and bool(torch.any(p.grad != 0))
        }
        return True

    def _narrow(self, capture: Capture, index: int) -> None:
        """Replay ``self.sequences`` of each layer's batch at step ``index``, drawn anew at
        each sampled step (seeded by the monitor's seed and the step)."""
        rng = np.random.default_rng((self.seed, index))
        for name, call in capture.layers.items():
            capture.layers[name] = call.sampled(self.sequences, rng)

    def _loop_facts(self, objective: str) -> dict[str, Any]:
        """The probes' description of a watched loop's input, call and objective."""
        return {
            "input": {
                "source": "the batches of the watched training loop",
                "shape": None,
                "dtype": None,
            },
            "call": "the user's training loop",
            "output": "the loss passed to monitor.step",
            "objective": objective,
            "seed": self.seed,
        }

    def _check_updates(self) -> None:
        """Compare the parameters that had a gradient at the last sampled step with now.

        Done at the next sampled step, not the next step: with gradient
        accumulation the optimizer steps only every few calls of ``step``.
        """
        snapshot, self._snapshot = self._snapshot, None
        assert snapshot is not None
        current = dict(self.model.named_parameters())
        unchanged = [n for n, old in snapshot.items() if torch.equal(current[n].detach(), old)]
        self._update_checks.append(
            {"step": self._steps[-1], "with_gradient": len(snapshot), "unchanged": unchanged}
        )

    def _merge(self, finding: dict[str, Any], step: int) -> None:
        """Keep one finding per code and module: the worst, with the steps it was seen at."""
        key = (finding["code"], finding["module"])
        seen = self._findings.get(key)
        steps = [*seen["evidence"]["steps"], step] if seen else [step]
        if (
            seen is None
            or rules.SEVERITY_ORDER[finding["severity"]] < rules.SEVERITY_ORDER[seen["severity"]]
        ):
            seen = {**finding, "evidence": dict(finding["evidence"])}
            seen["evidence"]["first_step"] = step
        seen["evidence"]["steps"] = steps
        self._findings[key] = seen

    # ------------------------------------------------------------ the end

    def _training_record(self) -> dict[str, Any] | None:
        if not self._steps:
            return None
        record = training.summarize(
            self._losses, self._grad_norms, None, math.nan, self._index, False
        )
        record.update(objective="the user's loss (watched training loop)", lr=None)
        # summarize() counts in samples; the report and the rules speak in training steps.
        record["loss_spikes"] = [self._steps[i] for i in record["loss_spikes"]]
        first = record["first_nonfinite_step"]
        record["first_nonfinite_step"] = None if first is None else self._steps[first]
        record.update(steps_requested=self._index, steps_done=self._index)
        record["sampled_steps"] = list(self._steps)
        return record

    def close(self) -> FindingsDocument:
        """Write findings.json and report.html to ``log_dir``; close our own writer.

        Returns the findings document. Calling it again returns the same document.
        """
        if self.findings is not None:
            return self.findings
        if self._capture is not None:
            self._disarm()
        if self._snapshot is not None and (
            not self._update_checks or self._index - self._steps[-1] >= self.every
        ):
            self._check_updates()
        last = self._last or {"modules": [], "probes": None}
        modules = last["modules"] or list(recurrent_modules(self.model).values())
        probes = last["probes"] or probes_document(
            self.model,
            {**self._loop_facts("the user's loss (no step was sampled)"), "loss": None},
            [],
            None,
            None,
        )
        probes = {**probes, "training": self._training_record()}
        probes["watch"] = {
            "every": self.every,
            "steps_seen": self._index,
            "sampled_steps": list(self._steps),
            "update_checks": self._update_checks,
            "history": self._history,
            "scaler_skipped_steps": self._scaler_skipped,
        }
        for finding in rules.evaluate(modules, probes, ("run",)):
            self._merge(finding, self._steps[-1] if self._steps else 0)
        for finding in self._findings.values():
            finding["summary"] += _when(finding["evidence"]["steps"], len(self._steps))
        findings = sorted(
            [*self._findings.values(), *rules.evaluate(modules, probes, ("watch",))],
            key=lambda f: rules.SEVERITY_ORDER[f["severity"]],
        )
        self.findings = findings_document(
            f"watched {type(self.model).__name__}", modules, probes, findings
        )
        if self._own_writer:
            self.writer.close()
        else:
            self.writer.flush()
        path = self.log_dir / "findings.json"
        dump_findings(self.findings, path)
        if self.report:
            write_diagnose_report(path, self.log_dir / "report.html")
        return self.findings

    # ------------------------------------------------------------ Jupyter

    def _repr_html_(self) -> str:
        """What the watch has recorded so far: steps seen and probed, the key numbers of
        the last probed step, the findings so far (after ``close``: the final ones)."""
        closed = self.findings is not None
        return watch_html(
            {
                "model": type(self.model).__name__,
                "log_dir": str(self.log_dir),
                "every": self.every,
                "steps_seen": self._index,
                "sampled_steps": list(self._steps),
                "closed": closed,
                "latest": self._history[-1] if self._history else None,
                "findings": self.findings["findings"] if closed else list(self._findings.values()),
            }
        )

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def watch(
    model: nn.Module,
    log_dir: str | pathlib.Path = "runs/diag",
    every: int = 50,
    writer: SummaryWriter | None = None,
    sequences: int | None = SEQUENCES,
) -> Monitor:
    """A :class:`Monitor` of ``model``'s training: a context manager, or call ``close()``."""
    return Monitor(model, log_dir=log_dir, every=every, writer=writer, sequences=sequences)
