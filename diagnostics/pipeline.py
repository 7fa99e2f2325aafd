"""Diagnose one model on one input: probe pass, rnnref replays, optional training, findings.

:func:`diagnose` returns the findings document (``reports.findingsfile``
schema) as a dict; writing files is the command's job.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from diagnostics import cellprobe, rules
from diagnostics.capture import (
    CELL_CLASSES,
    LAYER_CLASSES,
    Capture,
    LayerCall,
    NonFinite,
    module_label,
    probe_mode,
)
from diagnostics.layerprobe import probe_layer
from diagnostics.objective import (
    Objective,
    projection_objective,
    random_target_objective,
    target_objective,
)
from diagnostics.probes import nonfinite, params, stepcost, training
from diagnostics.probes.stats import num
from diagnostics.replay import AGREEMENT_TOL, ReplayRefused, replay
from reports.findingsfile import SCHEMA, FindingsDocument
from usermodel.calling import call_description, plan_call, run_model, select_output
from usermodel.errors import UsageError, describe_exception


def module_record(
    name: str, module: nn.RNNBase | nn.RNNCellBase, path: str | None = None
) -> dict[str, Any]:
    """The configuration of one recurrent module or cell, for ``modules`` in findings.json;
    the probe's fields (calls, input shape, replay agreement, ...) start empty. ``name`` is
    how the findings name it (the class name for the model itself), ``path`` its place in
    ``model.named_modules()`` ("" for the model itself; None for a call no module owns)."""
    if isinstance(module, CELL_CLASSES):
        config = cellprobe.cell_config(module)
    else:
        config = {
            "mode": module.mode,
            "probe": "rnnref replay",
            "input_size": module.input_size,
            "hidden_size": module.hidden_size,
            "num_layers": module.num_layers,
            "bidirectional": module.bidirectional,
            "batch_first": module.batch_first,
            "proj_size": module.proj_size,
            "dropout": module.dropout,
            "packed": None,
        }
    weight = next(module.parameters(), None)
    return {
        "name": name,
        "path": path,
        "type": type(module).__name__,
        **config,
        "dtype": None if weight is None else str(weight.dtype).removeprefix("torch."),
        "device": None if weight is None else weight.device.type,
        "calls": 0,
        "input_shape": None,
        "output_gradient_steps": None,
        "chunks": None,
        "replay_dtype": None,
        "replay_agreement": None,
        "replay_agreement_float64": None,
        "replay_agreement_short": None,
        "replay_trusted": None,
        "replay_error": None,
        "replay_note": None,
        "flush_denormal": None,
        "weights_from": [],
    }


def recurrent_modules(model: nn.Module) -> dict[str, dict[str, Any]]:
    """The record of every nn.RNN/LSTM/GRU and nn.RNNCell/LSTMCell/GRUCell in ``model``, by
    the name the capture gives its calls (:func:`diagnostics.capture.module_label`)."""
    return {
        module_label(path, m): module_record(module_label(path, m), m, path)
        for path, m in model.named_modules()
        if isinstance(m, LAYER_CLASSES + CELL_CLASSES)
    }


def _objective_factory(
    target: torch.Tensor | None,
    loss_kind: str,
    seed: int,
    training_run: bool,
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[[torch.Tensor], Objective]:
    if loss_fn is not None:
        return lambda out: Objective("the given loss_fn of the output", loss_fn, real=True)
    if target is not None:
        return lambda out: target_objective(target, loss_kind, out)
    if training_run:
        return lambda out: random_target_objective(out, seed)
    return lambda out: projection_objective(out, seed)


def probe_pass(
    model: nn.Module,
    x: torch.Tensor,
    make_objective: Callable[[torch.Tensor], Objective],
    seed: int = 0,
) -> tuple[dict[str, LayerCall], Capture, dict[str, Any]]:
    """One forward and backward in probe mode with every hook installed.

    Returns the captured layer calls, the capture (cell loops, non-finite watch)
    and facts about the pass (call, output, objective, loss). A model with cell
    loops, or layers called one step at a time, keeps the graph through the backward
    for their end passes (``seed``).

    Raises:
        UsageError: the model raised, or its output does not depend on anything trainable.
    """
    model.zero_grad(set_to_none=True)
    if x.is_floating_point():  # a gradient for the first module; a clone allows in-place ops
        x = x.detach().requires_grad_().clone()
    plan_call(model, x)  # before the capture: a trial call (which size is the batch) is no pass
    with probe_mode(model), Capture(model) as cap:
        output, which = select_output(run_model(model, x))
        objective = make_objective(output.detach())
        loss = objective.loss(output)
        if not loss.requires_grad:
            raise UsageError(f"the loss on {which} does not depend on any parameter or the input")
        try:
            loss.backward(retain_graph=cap.keeps_graph)
        except Exception as exc:
            raise UsageError(
                f"backward through the model failed: {describe_exception(exc)}"
            ) from exc
        kept = cap.kept_states(model)
        cap.finish(seed)
    facts = {
        "call": call_description(model),
        "output": which,
        "objective": objective.description,
        "loss": num(float(loss.detach())),
        "real_objective": objective.real,
        "loss_broadcast": objective.broadcast,
        "kept_states": kept,
    }
    return cap.layers, cap, facts


def _flush_denormal(
    call: LayerCall, info: dict[str, Any], layer_records: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The measured cure (:func:`stepcost.flush_denormal_speedup`) of a float32 CPU layer
    whose real gradient is subnormal in SUBNORMAL_SHARE of its values or more, else None."""
    if info["dtype"] != "float32" or info["device"] != "cpu":
        return None
    shares = [r["grad_subnormal_fraction"] for r in layer_records]
    if max((s for s in shares if s is not None), default=0.0) < rules.SUBNORMAL_SHARE:
        return None
    return stepcost.flush_denormal_speedup(call)


def probe_recurrent(
    layers: dict[str, LayerCall],
    modules: dict[str, dict[str, Any]],
    seed: int,
    flush_measured: dict[str, dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Replay every captured nn.RNN/LSTM/GRU call through rnnref and probe it.

    Fills each module's record in ``modules`` (calls, input shape, replay
    agreement, or replay_error when rnnref refuses the call, flush_denormal: the
    measured cure of its subnormal gradient) and returns the per (layer, direction)
    probe records of :func:`probe_layer`, as findings.json holds them. ``flush_measured``
    keeps the cure measured per module name across calls (a watched loop measures it once).
    """
    flush_measured = {} if flush_measured is None else flush_measured
    records: list[dict[str, Any]] = []
    for name, call in layers.items():
        info = modules.setdefault(name, module_record(name, call.module))
        info.update(
            calls=call.calls,
            packed=call.packed,
            input_shape=list(call.x.shape),
            output_gradient_steps=call.output_gradient_steps(),
            chunks=call.chunks,
            weights_from=call.weight_sources,
        )
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rep = replay(call, seed)
                layer_records = [record.to_json() for record in probe_layer(rep, seed)]
        except ReplayRefused as exc:
            info["replay_error"] = str(exc)
            continue
        info.update(
            replay_dtype=rep.dtype,
            replay_agreement=num(rep.agreement),
            replay_agreement_float64=num(rep.agreement_float64),
            replay_agreement_short=num(rep.agreement_short),
            replay_trusted=rep.trusted,
        )
        if name not in flush_measured:
            cure = _flush_denormal(call, info, layer_records)
            if cure is not None:
                flush_measured[name] = cure
        info["flush_denormal"] = flush_measured.get(name)
        records.extend(layer_records)
    return records


CHAINED_PROBE = "the autograd graph of its calls chained through their state"
"""How a layer called one step at a time (a decoder) is probed: as a cell loop per layer."""


def probe_chains(cap: Capture, modules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Probe every layer whose one-step calls are chained through their state (after
    ``cap.finish``), one record per layer; fills its record in ``modules``."""
    records: list[dict[str, Any]] = []
    for name, loops in cap.chains.items():
        info = modules.setdefault(name, module_record(name, loops[0].module))
        first = loops[0]
        info.update(
            calls=len(first.inputs),
            probe=CHAINED_PROBE,
            stepped=True,
            input_shape=[len(first.inputs), *first.inputs[0].shape],
            chunks=[[1, False] for _ in first.inputs],
        )
        for index, loop in enumerate(loops):
            with np.errstate(all="ignore"):
                record = cellprobe.probe_cell_loop(loop, layer=index, chained=True)
            records.append(record.to_json())
    return records


def probe_cells(cap: Capture, modules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Probe every captured cell loop (after ``cap.finish``); fills its record in ``modules``."""
    records: list[dict[str, Any]] = []
    for name, loop in cap.cells.items():
        info = modules.setdefault(name, module_record(name, loop.module))
        info.update(calls=len(loop.inputs), chunks=[[1, cut] for cut in loop.detached])
        if loop.error is not None:
            info["replay_error"] = loop.error
            continue
        info["input_shape"] = [len(loop.inputs), *loop.inputs[0].shape]
        with np.errstate(all="ignore"):
            records.append(cellprobe.probe_cell_loop(loop).to_json())

    return records


def diagnose(
    model: nn.Module,
    x: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    target_label: str | None = None,
    input_label: str | None = None,
    seed: int = 0,
    target: torch.Tensor | None = None,
    loss_kind: str = "mse",
    steps: int = 0,
    lr: float = 1e-3,
    progress: training.Progress | None = None,
) -> FindingsDocument:
    """Probe ``model`` on ``x`` and return the findings document (a dict, shown as a
    summary in Jupyter).

    x: the model's input (any shape it accepts) on the model's device.
    loss_fn: the user's loss of the model's (selected) output, a 0-d tensor;
    else target: the user's target for ``loss_kind`` ("mse" or "ce"); neither: a
    seeded random projection of the output (and, for training, a random MSE target).
    target_label, input_label: how findings.json names the model and its input
    (default: the model's class, and the input's dtype and shape).

    Raises:
        UsageError: the model cannot be run, differentiated or trained on ``x``.
    """
    if steps > 0 and not training.trainable(model):
        raise UsageError("--steps: the model has no trainable parameter")
    target_label = target_label or type(model).__name__
    input_label = input_label or f"{x.dtype} tensor of shape {list(x.shape)}"
    torch.manual_seed(seed)
    modules = recurrent_modules(model)
    layers, cap, facts = probe_pass(
        model, x, _objective_factory(target, loss_kind, seed, False, loss_fn), seed
    )

    records = (
        probe_recurrent(layers, modules, seed)
        + probe_chains(cap, modules)
        + probe_cells(cap, modules)
    )
    train_record = None
    if steps > 0:
        train_record = training.train(
            model,
            x,
            _objective_factory(target, loss_kind, seed, True, loss_fn),
            steps,
            lr,
            progress or (lambda *_: None),
            facts["kept_states"],
        )
        if target is None and loss_fn is None:  # a random target's norms are not the user's
            train_record.update(suggested_clip=None, clip_fraction=None)
    input_facts = {"source": input_label, "shape": list(x.shape), "dtype": str(x.dtype)}
    facts = {"input": input_facts, **facts, "seed": seed}
    probes = probes_document(model, facts, records, cap.nonfinite, train_record)
    module_list = list(modules.values())
    return findings_document(target_label, module_list, probes, rules.evaluate(module_list, probes))


def probes_document(
    model: nn.Module,
    facts: dict[str, Any],
    records: list[dict[str, Any]],
    nonfinite_outputs: NonFinite | None,
    training_record: dict[str, Any] | None,
    grad_scale: float = 1.0,
) -> dict[str, Any]:
    """The findings document's ``probes`` for one probed pass (``python -m diagnostics`` and
    each sampled step of :func:`diagnostics.watch`).

    facts: the pass's description (input, call, output, objective, loss, seed, ...);
    records: one per layer and direction, cell loop and chain; nonfinite_outputs: the
    modules whose outputs or gradients first held NaN/Inf (None: no pass was probed);
    training_record: the loss and gradient-norm series of a run, or None; grad_scale: the
    AMP scale the parameters' gradients carry.
    """
    return {
        **facts,
        "replay_tolerance": AGREEMENT_TOL,
        "recurrent": records,
        "whole_model": params.parameter_norms(model, grad_scale),
        "nonfinite": {
            "forward_modules": nonfinite_outputs.forward if nonfinite_outputs else [],
            "backward_modules": nonfinite_outputs.backward if nonfinite_outputs else [],
            **nonfinite.parameters_nonfinite(model),
        },
        "training": training_record,
        "runtime": stepcost.runtime_settings(),
    }


def findings_document(
    target: str, modules: list[dict[str, Any]], probes: dict[str, Any], findings: list[dict]
) -> FindingsDocument:
    """The findings document (``findings.json``, schema :data:`SCHEMA`), a dict that
    Jupyter shows as a summary."""
    return FindingsDocument(
        schema=SCHEMA, target=target, modules=modules, probes=probes, findings=findings
    )
