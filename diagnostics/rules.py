"""Rules: turn probe results into findings with a code, severity, evidence and advice.

Every threshold sits beside the rule that uses it with its source. Where the
source is "corpus", the value was set on the fault corpus
(``python -m diagnostics evaluate``), between what default-initialised
healthy models show and what the injected faults produce; the measured
precision and recall are in docs/measurements/corpora.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnnref.cells import cell_type

Finding = dict[str, Any]
Record = dict[str, Any]
Module = dict[str, Any]
Probes = dict[str, Any]

# --------------------------------------------------------------------------- thresholds

VANISH_ERROR_HORIZON = 5
"""Error when the gradient from the end falls 1000-fold within this many steps
(a per-step factor below 1000^(-1/5) = 0.25). Source: corpus; the injected vanishing
faults give 2-4, healthy models no less than 8 (each cell type's healthy_horizon in
rnnref.CELL_TYPES: the band of a default-initialised layer)."""

VANISH_WARN_HORIZON = {"lstm": 7, "gru": 10, "rnn_tanh": 7, "rnn_relu": 6}
"""Warning at or below this horizon: shorter than any default-initialised layer of the
kind keeps (three steps under its healthy_horizon's lower edge, two for the ReLU RNN whose
band is 8-9 and whose error level is 5)."""

RNN_REACH_RATIO = 5
"""A plain (tanh or ReLU) RNN gets a warning when the sequence is more than this many
horizons long: it cannot learn to carry information much past its horizon (Bengio,
Simard and Frasconi 1994), so most of the sequence is out of its reach (a 500-step
sequence and a horizon of 12 is 42 horizons). A gated cell learns to open its gates,
so its initial horizon alone is info. Source: the outcome part (``evaluate --part
outcomes``): default tanh RNNs (horizon 12-14) learned the adding problem at 10 steps
and none of 6 at 30 and 90 steps; at 10 (before) the 90-step runs, 6.4 horizons, had no
objection. 5 keeps the healthy plain RNNs of parts 2 and 3 (28-40 steps, at most 4.4
horizons) below it; below 2.5 the 28-row MNIST RNN, which learns, would be warned."""

EXPLODE_ERROR_GROWTH = 1e3
"""Error when the gradient from the end grows 1000-fold going back (the mirror of the
1000-fold horizon, gradtime.HORIZON_FALL)."""

EXPLODE_WARN_GROWTH = 10.0
"""Warning when it grows 10-fold (one decade: a gradient that grows with distance)."""

EXPLODE_WARN_SPIKE = 10.0
"""Warning when, during --steps, the largest global gradient norm exceeds 10x the median
(a spike of one decade; Pascanu et al. 2013, section 3: exploding gradients show as
sudden large norms)."""

SATURATION_ERROR = 0.5
"""Error when at least half of a gate's (or the tanh units') activations are hard-saturated
(sigmoid < 0.01 or > 0.99, |tanh| > 0.99; Karpathy et al. 2015's cut-offs, tightened:
diagnostics.probes.saturation).
Source: corpus; default initialisation gives 0%, input weights x 30 give 76-92%."""

SATURATION_WARN = 0.2
"""Warning at 20% hard-saturated activations (corpus)."""

DEAD_ERROR = 0.25
"""Error when at least a quarter of a ReLU layer's units never fire over the batch and all
steps. Source: corpus; default initialisation gives 0-16% (8 sequences, hidden 16-32),
the injected faults 50-100%."""

DEAD_WARN = 0.05
"""Warning when at least 5% never fire."""

DIVERGE_MIN_STEPS = 3
"""Steps --steps must have taken before a loss curve can be called diverging."""

DIVERGE_ABOVE_START = 1.1
"""Divergence when the last loss is more than 10% above the first: Adam on one repeated
batch lowers it at any sane learning rate; 10% leaves room for dropout's noise."""

DIVERGE_GIVE_BACK, DIVERGE_NOISE = 0.5, 0.1
"""Divergence, too, when the loss rose back from its lowest by more than half of what it had
gained and by more than 10% of the lowest value (the second keeps noise near a plateau
from counting). Our heuristic (measured: Adam at lr=1 on a corpus model took 1.62 -> 12.0
-> 4.99)."""

SUBNORMAL_SHARE = 0.01
"""Report when 1% or more of the real gradient's values dL/dh_t are subnormal in float32
(1.4e-45 to 1.18e-38), where x86 computes 10-100 times slower, so that 1% can double a
step. Measured here: a 2-layer LSTM classifier on the last of 200 steps has 10-11% of them,
and its CPU training step takes 4437 ms, 343 ms with torch.set_flush_denormal(True) (one
thread); every healthy and faulty model of the corpus with a loss on every step has 0%."""

FLUSH_WARN_SPEEDUP = 2.0
"""subnormal-gradient is a warning when the measured cure (the layer's forward+backward
with torch.set_flush_denormal(True) at one thread, against the step as it runs) is at
least this many times faster: the training would take half as long or less. One timed
pass of each on a shared machine varies by 10-30%, so a ratio of 2 is the cure's doing,
not noise; below it the finding stays info, with the number. SUBNORMAL_SHARE's classifier
is 13 times faster flushed, far beyond it; a packed sentiment classifier (2-layer
bidirectional LSTM, hidden 300, 64 x 256 tokens, 10% of its gradient subnormal) measured
2.9x on its LSTM's pass (136 s as it ran at 2 threads, 47 s flushed, on a 2-core machine
under load 9-15) and 1.9x on the whole step. The penalty is the CPU's: on one AMD EPYC VM
the hidden-256 version of that model took 2504 ms, 757 ms flushed (3.3x, a warning); on
another, a day later, 435 ms and 720 ms (the flag at one thread 1.7x slower: info)."""

ONE_END_MIN_STEPS = 8
"""A direction is checked for being read at one end when it runs at least this many steps."""

ONE_END_SHARE = 8
"""direction-read-at-one-end when the gradient of the loss reaches only the first
1/ONE_END_SHARE of a direction's steps in the order it runs them (or its first step):
the loss reads its output where it has seen only the first inputs, so its recurrence is
never trained (``fc(out[:, -1, :])`` on a bidirectional LSTM: the reverse direction's
output at the last step, its first; yunjey/pytorch-tutorial issue 149). Where the gradient
enters at the direction's end and fades, the steps it reaches are the last ones, not the
first: vanishing-gradient reports that."""

HORIZON_SHRINK = 0.5
"""Warn when a layer's horizon at the last sampled step is at most half of its horizon at
the first (and below the sequence length): the gradient's reach through time shrank as
training went, the run-time face of vanishing gradients (Pascanu et al. 2013, section 2;
a halving is our cut-off: horizons of one model differ by a step or two between batches)."""

FORGET_OPEN = 0.7
"""Advise a forget-gate bias of 1 (Gers et al. 2000; Jozefowicz et al. 2015) when the mean
forget gate is below this: torch's zero-mean init gives sigmoid(0) = 0.5, a bias of 1 gives
about sigmoid(1) = 0.73."""


def _finding(
    code: str, severity: str, module: str | None, summary: str, evidence: dict, advice: str
) -> Finding:
    assert code in CODES, f"finding code {code!r} of no rule: add it to its Rule in RULES"
    return {
        "code": code,
        "severity": severity,
        "module": module,
        "summary": summary,
        "evidence": evidence,
        "advice": advice,
    }


def ladder(value: float, error: float, warning: float, *, low: bool = False) -> str | None:
    """The severity of ``value``: "error" at or beyond ``error``, "warning" at or beyond
    ``warning``, else None. Beyond means above, or below with ``low`` (a horizon)."""
    if low:
        value, error, warning = -value, -error, -warning
    if value >= error:
        return "error"
    if value >= warning:
        return "warning"
    return None


def _where(record: Record) -> str:
    if record.get("chained"):
        return f"layer {record['layer']} over its {record['steps']} chained calls"
    if record.get("stepped"):
        return f"its loop of {record['steps']} steps"
    direction = "reverse" if record["direction"] else "forward"
    return f"layer {record['layer']} {direction}"


def _clip_advice(probes: Probes) -> str:
    """How to clip, with a max_norm only from the gradient norms of the user's own loss."""
    if not probes.get("real_objective"):
        return (
            "clip the gradient norm with torch.nn.utils.clip_grad_norm_ (no max_norm can be "
            "suggested: without --target the probe's loss is a seeded stand-in whose gradient "
            "norm says nothing about your loss's; run with --target FILE --loss mse|ce "
            "--steps 50 for one)"
        )
    training = probes.get("training") or {}
    watched = "step" in probes or "watch" in probes  # a diagnostics.watch run
    if training.get("suggested_clip"):
        value = training["suggested_clip"]
        source = "the mean norm of your loss over " + (
            "the watched run's sampled steps" if watched else "--steps"
        )
    else:
        value = probes["whole_model"].get("global_grad_norm")
        source = "your loss's gradient norm " + (
            "at this training step"
            if watched
            else "on this batch; run with --steps 50 for the mean"
        )
    if value is None:
        return "clip the gradient norm with torch.nn.utils.clip_grad_norm_"
    return (
        f"clip with torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={value:.3g}) "
        f"({source}; Pascanu et al. 2013)"
    )


def _lower_lr(training: Record) -> str:
    """Advice to lower the learning rate, naming it when the run knows it (--steps)."""
    lr = training.get("lr")
    return "lower the learning rate" + (f" (now {lr:g})" if lr is not None else "")


# --------------------------------------------------------------------------- per-module rules


def _broken(record: Record) -> bool:
    """Records whose gradient numbers cannot be used: non-finite or untrusted replay."""
    nonfinite = record["nonfinite"]
    return (
        not record["trusted"]
        or nonfinite["forward_step"] is not None
        or nonfinite["backward_step"] is not None
    )


_SUFFIX = re.compile(r"_l(\d+)(_reverse)?$")


def gradient_reach(module: Module, probes: Probes) -> dict[tuple[int, int], str]:
    """Per (layer, direction) of a module: "frozen" (no parameter requires grad), "none"
    (trainable, but the loss's gradient is None or exactly zero on every parameter) or
    "reached". A cell (no ``_l0`` suffix) is layer 0, direction 0; a call no module owns
    (``path`` None) has none; a record without ``path`` (written before it) is named by it."""
    path = module.get("path", module["name"])
    if path is None:
        return {}
    prefix = f"{path}." if path else ""
    groups: dict[tuple[int, int], list[dict]] = {}
    for row in probes["whole_model"]["parameters"]:
        if not row["name"].startswith(prefix) or "." in row["name"][len(prefix) :]:
            continue
        match = _SUFFIX.search(row["name"])
        key = (int(match[1]), int(bool(match[2]))) if match else (0, 0)
        groups.setdefault(key, []).append(row)
    reach = {}
    for key, rows in groups.items():
        trainable = [row for row in rows if row["requires_grad"]]
        if not trainable:
            reach[key] = "frozen"
        else:
            reach[key] = "reached" if any(r["grad_reached"] for r in trainable) else "none"
    return reach


def _reached(module: Module, records: list[Record], probes: Probes) -> list[Record]:
    """The records of layers and directions the loss's gradient reaches (the others have no
    gradient to vanish or explode: the no-gradient rule reports them)."""
    reach = gradient_reach(module, probes)
    return [r for r in records if reach.get((r["layer"], r["direction"])) == "reached"]


def no_gradient(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """no-gradient: a module, layer or direction the loss's gradient never reaches.

    Frozen (requires_grad=False) is info. Trainable without gradient is an error: the
    output was detached, or the head never reads it (``fc(h_n[-1])`` on a bidirectional
    LSTM reads the last layer's reverse direction only, so its forward direction gets none).
    """
    reach = gradient_reach(module, probes)
    name = module["name"]
    if reach and all(state == "frozen" for state in reach.values()):
        return [
            _finding(
                "no-gradient",
                "info",
                name,
                f"{name} is frozen (requires_grad=False on all its parameters)",
                {"frozen": True},
                "it is not trained, so its gradient is not diagnosed; call "
                f"{name}.requires_grad_(True) if it should learn.",
            )
        ]
    all_dead = {
        (r["layer"], r["direction"])
        for r in records
        if r["dead_units"] is not None and r["dead_units"]["fraction"] == 1.0
    }  # ReLU units that never fire pass no gradient: dead-units says why
    missing = sorted(k for k, state in reach.items() if state == "none" and k not in all_dead)
    if not missing:
        return []
    evidence: dict[str, Any] = {"frozen": False, "without_gradient": [list(k) for k in missing]}
    if len(missing) == len([s for s in reach.values() if s != "frozen"]) and not all_dead:
        summary = (
            f"no gradient reaches {name}: the loss does not depend on its output or state "
            "(detached, or not used)"
        )
        advice = (
            f"remove the .detach() (or torch.no_grad()) between {name} and the loss, and make the "
            "output depend on what it returns; only then can it learn."
        )
    else:
        where = ", ".join(
            f"layer {layer} {'reverse' if direction else 'forward'}" for layer, direction in missing
        )
        summary = f"{name}: no gradient reaches {where}: the loss does not read its output"
        advice = "make the head read every layer and direction that should learn"
        top = module.get("num_layers", 1) - 1
        if module.get("bidirectional") and missing == [(top, 0)]:
            evidence["cause"] = (
                "h_n[-1] is the last layer's reverse direction; the forward direction's final "
                "state is h_n[-2]"
            )
            advice = (
                "read both directions of the last layer: fc(torch.cat((h_n[-2], h_n[-1]), dim=-1)) "
                "with 2 * hidden_size inputs"
            )
        advice += "."
    return [_finding("no-gradient", "error", name, summary, evidence, advice)]


def _vanishing_severity(record: Record) -> str:
    """error / warning / info for a record's horizon (thresholds above)."""
    horizon, cell = record["horizon"], record["cell"]
    severity = ladder(horizon, VANISH_ERROR_HORIZON, VANISH_WARN_HORIZON[cell], low=True)
    if severity is None and cell.startswith("rnn") and record["steps"] > RNN_REACH_RATIO * horizon:
        severity = "warning"
    return severity or "info"


def vanishing(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """vanishing-gradient: the gradient from the end falls 1000-fold before the sequence start."""
    if gradient_reach_steps(module.get("chunks") or [])[2]:
        return []  # detached between steps: truncated-gradient says how far it reaches
    usable = [
        r
        for r in _reached(module, records, probes)
        if not _broken(r) and r["horizon"] is not None and r["horizon"] < r["steps"] - 1
    ]
    if not usable:
        return []
    order = {"error": 0, "warning": 1, "info": 2}
    worst = min(usable, key=lambda r: (order[_vanishing_severity(r)], r["horizon"]))
    severity = _vanishing_severity(worst)
    horizon, steps, cell = worst["horizon"], worst["steps"], worst["cell"]
    blocks = (worst["spectrum"] or {}).get("blocks", {})
    kind = cell_type(cell)
    low, high = kind.healthy_horizon
    evidence: dict[str, Any] = {
        "layer": worst["layer"],
        "direction": worst["direction"],
        "horizon_steps": horizon,
        "sequence_steps": steps,
        "healthy_horizon": [low, high],
        "decay_per_step": worst["decay_per_step"],
        "mean_step_jacobian_norm": worst["step_jacobian"]["mean"],
        "sigma_max_w_hh": {g: b["sigma_max"] for g, b in blocks.items()},
        "horizons": {_where(r): r["horizon"] for r in records if not _broken(r)},
    }
    if cell.startswith("rnn") and blocks.get("h", {}).get("below_bound"):
        evidence["pascanu"] = (
            f"sigma_max(W_hh) = {blocks['h']['sigma_max']:.3g} < 1/gamma = 1: "
            "vanishing is guaranteed (Pascanu et al. 2013, section 2.1)"
        )
    advice = []
    if severity == "info":
        advice.append(
            f"a default-initialised {cell} keeps a horizon of {low}-{high} steps; "
            "a gated cell learns to carry information further as it trains, nothing to change"
            if not cell.startswith("rnn")
            else f"a default-initialised {cell} keeps a horizon of {low}-{high} steps; "
            "for dependencies longer than that use nn.LSTM or nn.GRU"
        )
    elif cell.startswith("rnn"):
        advice.append(
            "replace nn.RNN with nn.LSTM or nn.GRU, or initialise W_hh orthogonally "
            "(torch.nn.init.orthogonal_ on each weight_hh)"
            + (" or as the identity for a ReLU RNN (Le et al. 2015)" if cell == "rnn_relu" else "")
        )
    forget = worst["saturation"]["mean_forget"]
    if severity != "info" and forget is not None and forget < FORGET_OPEN:
        block = [b.name for b in kind.blocks].index(kind.forget_gate)
        rows = ":".join({0: "0", 1: "H"}.get(k, f"{k}H") for k in (block, block + 1))
        evidence["mean_forget_gate"] = forget
        advice.append(
            f"the mean forget gate is {forget:.2f}: set the forget-gate bias to 1 "
            f"(bias_ih and bias_hh rows {rows}; Jozefowicz et al. 2015)"
        )
    if severity != "info" and cell == "gru":
        advice.append("initialise W_hh orthogonally (torch.nn.init.orthogonal_ on weight_hh)")
    sat = _worst_saturation(worst)
    if sat is not None and sat[1] >= SATURATION_WARN:
        advice.append(
            f"{sat[0]} is {sat[1]:.0%} saturated: normalise the inputs or shrink the input weights"
        )
    if severity != "info" and (module.get("output_gradient_steps") or 0) > 1:
        # Only where the loss reads many steps: a last-step output needs the whole sequence.
        advice.append(f"or truncate backpropagation to about {max(horizon, 1)} steps")
    summary = (
        f"{module['name']} ({_where(worst)}): the gradient from the last step falls 1000-fold "
        f"within {horizon} of {steps} steps"
    )
    if severity == "info":
        summary += f" (default-initialised {cell}: {low}-{high})"
    return [
        _finding(
            "vanishing-gradient",
            severity,
            module["name"],
            summary,
            evidence,
            "; ".join(advice) + ".",
        )
    ]


def exploding(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """exploding-gradient: the gradient from the end grows going back through time."""
    usable = [
        r for r in _reached(module, records, probes) if not _broken(r) and r["growth"] is not None
    ]
    if not usable:
        return []
    worst = max(usable, key=lambda r: r["growth"])
    growth = worst["growth"]
    severity = ladder(growth, EXPLODE_ERROR_GROWTH, EXPLODE_WARN_GROWTH)
    if severity is None:
        return []
    blocks = (worst["spectrum"] or {}).get("blocks", {})
    evidence = {
        "layer": worst["layer"],
        "direction": worst["direction"],
        "growth": growth,
        "decay_per_step": worst["decay_per_step"],
        "mean_step_jacobian_norm": worst["step_jacobian"]["mean"],
        "sigma_max_w_hh": {g: b["sigma_max"] for g, b in blocks.items()},
        "global_grad_norm": probes["whole_model"].get("global_grad_norm"),
    }
    if module["replay_agreement_float64"] is not None:
        text = (
            "the gradient over the whole sequence is dominated by amplified round-off: torch's "
            f"float32 gradient and the float64 replay differ by {module['replay_agreement']:.3g}"
        )
        if module["replay_agreement_short"] is not None:
            text += (
                f", torch and rnnref both in float64 by {module['replay_agreement_float64']:.3g} "
                "(they agree on a short prefix of the sequence)"
            )
        evidence["round_off"] = text + " (relative)"
    advice = (
        f"{_clip_advice(probes)}; initialise W_hh orthogonally or scale it so its largest "
        "singular value is at most 1 (Pascanu et al. 2013: exploding needs sigma_max > 1/gamma); "
        "lower the learning rate."
    )
    summary = (
        f"{module['name']} ({_where(worst)}): the gradient from the last step grows "
        f"{growth:.3g}-fold going back through time"
    )
    return [_finding("exploding-gradient", severity, module["name"], summary, evidence, advice)]


def _worst_saturation(record: Record) -> tuple[str, float] | None:
    """(what, hard-saturated fraction) of the most saturated gate or the tanh units.

    A forget gate near 1 keeps memory and is not counted; only its low side is.
    """
    sat = record["saturation"]
    values = []
    for name, gate in sat["gates"].items():
        if name == "f":
            values.append((f"forget gate {name}", gate["low_hard"]))
        else:
            values.append((f"gate {name}", gate["hard"]))
    if sat["units"] is not None:
        values.append(("the tanh units", sat["units"]["hard"]))
    values = [(w, v) for w, v in values if v is not None]
    return max(values, key=lambda wv: wv[1]) if values else None


FLUSH_LINES = "torch.set_flush_denormal(True)\ntorch.set_num_threads(1)"
"""The lines that cure subnormal gradients, before the training loop: the flag flushes
the calling thread only, so one thread flushes all of the work."""


def subnormal(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """subnormal-gradient: in float32 on a CPU, much of the loss's gradient dL/dh_t is below
    float32's smallest normal number, where torch's backward runs 10-100x slower; with the
    cure measured on the layer (module["flush_denormal"]), a warning when it is
    FLUSH_WARN_SPEEDUP times faster or more."""
    if module.get("dtype") != "float32" or module.get("device") != "cpu":
        return []
    usable = [
        r for r in _reached(module, records, probes) if r.get("grad_subnormal_fraction") is not None
    ]
    if not usable:
        return []
    worst = max(usable, key=lambda r: r["grad_subnormal_fraction"])
    share = worst["grad_subnormal_fraction"]
    if share < SUBNORMAL_SHARE:
        return []
    cure = module.get("flush_denormal")
    evidence = {
        "layer": worst["layer"],
        "direction": worst["direction"],
        "subnormal_fraction": share,
        "threshold": SUBNORMAL_SHARE,
        "speedup": None,
        "step_s": None,
        "flushed_s": None,
        "threads": None,
        "speedup_threshold": FLUSH_WARN_SPEEDUP,
    }
    summary = (
        f"{module['name']} ({_where(worst)}): {share:.0%} of the loss's gradient dL/dh_t "
        "is subnormal in float32 (below 1.2e-38), where many CPUs compute 10-100x slower"
    )
    severity = "info"
    if cure is not None:
        evidence.update({key: cure[key] for key in ("speedup", "step_s", "flushed_s", "threads")})
        speedup = cure["speedup"]
        summary += (
            f"; its forward+backward on this batch took {cure['step_s'] * 1e3:.0f} ms as the "
            f"step runs it ({cure['threads']} thread(s)), {cure['flushed_s'] * 1e3:.0f} ms "
            "flushing subnormals at one thread: "
            + (f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x slower, no gain")
        )
        if cure["speedup"] >= FLUSH_WARN_SPEEDUP:
            severity = "warning"
    return [
        _finding(
            "subnormal-gradient",
            severity,
            module["name"],
            summary,
            evidence,
            "On the CPU, add these lines before the training loop:\n"
            f"{FLUSH_LINES}\n"
            "Subnormal values become zero, which changes nothing they could carry; the flag "
            "flushes the calling thread only, so one thread flushes all of the work. rnnref "
            "bench model times the flush-denormal path on your whole model (try --threads 1 "
            "and 2). A gradient that small reaches the early steps with nothing in it: see "
            "vanishing-gradient.",
        )
    ]


def saturated(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """saturation: gates or tanh units stuck near their limits."""
    found = [(r, _worst_saturation(r)) for r in records if r["nonfinite"]["forward_step"] is None]
    found = [(r, s) for r, s in found if s is not None]
    if not found:
        return []
    record, (what, fraction) = max(found, key=lambda rs: rs[1][1])
    severity = ladder(fraction, SATURATION_ERROR, SATURATION_WARN)
    if severity is None:
        return []
    sat = record["saturation"]
    evidence = {
        "layer": record["layer"],
        "direction": record["direction"],
        "what": what,
        "hard_saturated_fraction": fraction,
        "gates": {
            name: {k: g[k] for k in ("mean", "soft", "hard")} for name, g in sat["gates"].items()
        },
        "tanh_units_hard": None if sat["units"] is None else sat["units"]["hard"],
    }
    advice = (
        "normalise the inputs (standardise features, or LayerNorm before the layer), shrink the "
        "input weights (default init or xavier_uniform_ on weight_ih), and lower the learning rate"
    )
    if what.startswith("forget"):
        advice += "; set the forget-gate bias to 1 so the gate starts open"
    summary = (
        f"{module['name']} ({_where(record)}): {fraction:.0%} of {what} activations are "
        "saturated (gradient through them is near zero)"
    )
    return [_finding("saturation", severity, module["name"], summary, evidence, advice + ".")]


def dead(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """dead-units: ReLU units that never fire over the batch and all steps."""
    found = [
        r for r in records if r["dead_units"] is not None and r["nonfinite"]["forward_step"] is None
    ]
    if not found:
        return []
    record = max(found, key=lambda r: r["dead_units"]["fraction"])
    fraction = record["dead_units"]["fraction"]
    severity = ladder(fraction, DEAD_ERROR, DEAD_WARN)
    if severity is None:
        return []
    evidence = {
        "layer": record["layer"],
        "direction": record["direction"],
        "dead_fraction": fraction,
        "dead_count": record["dead_units"]["count"],
        "hidden": record["hidden"],
        "per_layer": {_where(r): r["dead_units"]["fraction"] for r in found},
    }
    advice = (
        "set the ReLU layer's biases to 0 (or slightly positive), initialise W_hh as the identity "
        "(Le et al. 2015), lower the learning rate, or use nonlinearity='tanh' / nn.LSTM / nn.GRU."
    )
    summary = (
        f"{module['name']} ({_where(record)}): {record['dead_units']['count']} of "
        f"{record['hidden']} ReLU units never fire"
    )
    return [_finding("dead-units", severity, module["name"], summary, evidence, advice)]


def replay_problems(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """replay-mismatch: rnnref could not reproduce the layer, so its per-step probes are unused."""
    tolerance = probes["replay_tolerance"]
    if module["replay_error"]:
        summary = f"{module['name']}: could not be probed ({module['replay_error']})"
        evidence = {"error": module["replay_error"]}
    elif module["replay_trusted"] is False:
        agreement = module["replay_agreement"]
        shown = "non-finite" if agreement is None else f"{agreement:.3g}"
        summary = (
            f"{module['name']}: the rnnref replay's input gradient differs from torch's "
            f"(relative error {shown} > {tolerance:g})"
        )
        evidence = {
            "relative_error": agreement,
            "relative_error_float64_rerun": module["replay_agreement_float64"],
            "relative_error_first_steps": module["replay_agreement_short"],
            "tolerance": tolerance,
        }
    else:
        return []
    advice = (
        "the per-step gradient probes of this layer are not used; if the module overrides "
        "forward or uses hooks, probe a plain nn.RNN/LSTM/GRU copy of it."
    )
    return [_finding("replay-mismatch", "warning", module["name"], summary, evidence, advice)]


def repeated(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """repeated-calls: a layer run more than once in one forward pass (probes: the first)."""
    if module["calls"] <= 1 or module["type"].endswith("Cell") or module.get("stepped"):
        return []  # a cell, or a layer stepped through its state: probed through time
    if gradient_reach_steps(module.get("chunks") or [])[2]:
        return []  # truncated-gradient says what the calls do
    return [
        _finding(
            "repeated-calls",
            "info",
            module["name"],
            f"{module['name']} ran {module['calls']} times in one forward pass; "
            "the probes describe its first call",
            {"calls": module["calls"]},
            "a layer stepped one call per time step hides its time axis from these "
            "probes; run it over the whole sequence in one call to probe through time.",
        )
    ]


def one_end(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """direction-read-at-one-end: the loss's gradient reaches a direction only at the first
    steps it runs, because the output is read where that direction has just started."""
    found = []
    name = module["name"]
    hidden = module.get("hidden_size")
    for record in records:
        steps = record["steps"]
        reached, span = record["steps_reached"], record["reach_span"]
        if steps < ONE_END_MIN_STEPS or reached == 0 or span > max(1, steps // ONE_END_SHARE):
            continue
        reverse = bool(record["direction"])
        summary = (
            f"{name} ({_where(record)}): the loss's gradient reaches only {reached} of its "
            f"{steps} steps, the first it runs: its output is read where it has seen "
            f"{'only the last inputs' if reverse else 'only the first inputs'}"
        )
        if reverse:
            advice = (
                "read each direction at its own end: the final states of both, "
                "fc(torch.cat((h_n[-2], h_n[-1]), dim=-1)), or out[:, -1, :H] with "
                f"out[:, 0, H:] (H = hidden_size = {hidden}); out[:, -1, :] reads the reverse "
                "direction after one input."
            )
        else:
            advice = (
                "read the output at the last step (out[:, -1] with batch_first, out[-1] "
                "otherwise, or h_n[-1]), where it has seen the whole sequence."
            )
        evidence = {
            "layer": record["layer"],
            "direction": record["direction"],
            "steps": steps,
            "steps_reached": reached,
        }
        found.append(
            _finding("direction-read-at-one-end", "warning", name, summary, evidence, advice)
        )
    return found


def weight_source(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """no-gradient on the Parameter a weight that ran comes from (a weight drop): cut from
    the graph (computed from ``.data`` or a detached copy), or reached by no gradient."""
    rows = {row["name"]: row for row in probes["whole_model"]["parameters"]}
    found = []
    name = module["name"]
    for source in module.get("weights_from") or []:
        params = source["parameters"]
        dead = [p for p in params if p in rows and not rows[p]["grad_reached"]]
        if source["connected"] and not dead:
            continue
        shown = ", ".join(dead or params) or "any Parameter"
        if source["connected"]:
            summary = (
                f"{name}.{source['weight']}: no gradient reaches {shown}, which it is computed from"
            )
        else:
            summary = (
                f"{name}.{source['weight']} is cut from the graph: computed from {shown} "
                "through .data or a detached copy, so it never receives a gradient and never "
                "trains"
            )
        advice = (
            "compute the dropped weight from the Parameter itself, e.g. "
            "F.dropout(self.weight_hh_l0_raw, p, training=self.training), not from its .data "
            "or a detached copy (fastai2 PR 427)."
        )
        evidence = {**source, "without_gradient": dead}
        found.append(_finding("no-gradient", "error", name, summary, evidence, advice))
    return found


def gradient_reach_steps(chunks: list[list]) -> tuple[int, int, int]:
    """(longest run of steps no detach cuts, all steps, number of cuts) of a module's calls
    (``chunks``: [steps, detached] per call, in call order)."""
    runs, run = [], 0
    for steps, detached in chunks:
        if detached:
            runs.append(run)
            run = 0
        run += steps
    runs.append(run)
    return max(runs), sum(steps for steps, _ in chunks), len(runs) - 1


def truncated(module: Module, records: list[Record], probes: Probes) -> list[Finding]:
    """truncated-gradient: the state is detached between the calls of one forward pass, so
    the gradient of the loss crosses no chunk boundary."""
    reach, total, cuts = gradient_reach_steps(module.get("chunks") or [])
    if not cuts:
        return []
    name = module["name"]
    return [
        _finding(
            "truncated-gradient",
            "error",
            name,
            f"{name}: the state is detached {cuts} time(s) within one forward pass, so the "
            f"gradient reaches at most {reach} of the sequence's {total} steps",
            {"reach_steps": reach, "sequence_steps": total, "cuts": cuts},
            "pass the state on without .detach() inside forward (detach it between batches, "
            "not between the chunks of one sequence), or make the chunks as long as the "
            "dependencies the model must learn.",
        )
    ]


# --------------------------------------------------------------------------- whole model


def nonfinite(modules: list[Module], probes: Probes) -> list[Finding]:
    """non-finite: NaN or Inf in weights, activations or gradients, and where it first appears."""
    nf = probes["nonfinite"]
    steps = {
        f"{r['module']} {_where(r)}": r["nonfinite"]
        for r in probes["recurrent"]
        if r["nonfinite"]["forward_step"] is not None or r["nonfinite"]["backward_step"] is not None
    }
    if not (nf["forward_modules"] or nf["backward_modules"] or nf["weights"] or nf["grads"]):
        return []
    first = (nf["forward_modules"] or nf["backward_modules"] or [None])[0]
    evidence = {
        "first_forward_module": nf["forward_modules"][0] if nf["forward_modules"] else None,
        "first_backward_module": nf["backward_modules"][0] if nf["backward_modules"] else None,
        "parameters_with_nonfinite_weights": nf["weights"],
        "parameters_with_nonfinite_grads": nf["grads"],
        "recurrent_first_steps": steps,
    }
    if nf["weights"]:
        names = ", ".join(sorted(nf["weights"]))
        summary = f"parameters hold NaN/Inf: {names}"
        advice = (
            "re-initialise or reload those parameters from a clean checkpoint; if training put "
            f"them there, lower the learning rate and {_clip_advice(probes)}."
        )
    elif nf["forward_modules"]:
        summary = f"NaN/Inf first appears in the output of {first}"
        advice = (
            "check the input for NaN/Inf and the operations of that module (log, division, exp)."
        )
    else:
        summary = f"the gradient first becomes NaN/Inf at the output of {first}"
        advice = f"lower the learning rate and {_clip_advice(probes)}."
    forward = [
        (label, info["forward_step"])
        for label, info in steps.items()
        if info["forward_step"] is not None
    ]
    backward = [
        (label, info["backward_step"])
        for label, info in steps.items()
        if info["backward_step"] is not None
    ]
    if forward:
        summary += f" ({forward[0][0]}: first non-finite state at step {forward[0][1]})"
    elif backward:
        summary += f" ({backward[0][0]}: first non-finite gradient at step {backward[0][1]})"
    return [_finding("non-finite", "error", first, summary, evidence, advice)]


def training_rules(modules: list[Module], probes: Probes) -> list[Finding]:
    """Findings from --steps: non-finite loss, gradient-norm spikes, loss spikes."""
    training = probes.get("training")
    if not training:
        return []
    findings = []
    step = training["first_nonfinite_step"]
    if step is not None:
        findings.append(
            _finding(
                "non-finite",
                "error",
                None,
                f"training: the loss or gradient norm became NaN/Inf at step {step}",
                {
                    "step": step,
                    "lr": training["lr"],
                    "grad_norms": training["grad_norms"][: step + 1],
                },
                f"{_lower_lr(training)} and {_clip_advice(probes)}.",
            )
        )
    spike = training["max_over_median_norm"]
    if spike is not None and spike >= EXPLODE_WARN_SPIKE:
        findings.append(
            _finding(
                "exploding-gradient",
                "warning",
                None,
                f"training: the global gradient norm spiked to {spike:.3g}x its median",
                {
                    "max_over_median_norm": spike,
                    "suggested_clip": training["suggested_clip"],
                    "clip_fraction": training["clip_fraction"],
                },
                f"{_clip_advice(probes)}; {_lower_lr(training)}.",
            )
        )
    if training["loss_spikes"]:
        findings.append(
            _finding(
                "loss-spikes",
                "warning",
                None,
                f"training: the loss jumped above twice its recent median at "
                f"{len(training['loss_spikes'])} step(s)",
                {"steps": training["loss_spikes"], "lr": training["lr"]},
                f"{_lower_lr(training)} and {_clip_advice(probes)}.",
            )
        )
    return findings


def no_recurrent_layer(modules: list[Module], probes: Probes) -> list[Finding]:
    """no-recurrent-layer: nothing for the per-step probes to look at."""
    if modules:
        return []
    return [
        _finding(
            "no-recurrent-layer",
            "info",
            None,
            "no nn.RNN, nn.LSTM or nn.GRU found: only whole-model probes ran",
            {"parameters": len(probes["whole_model"]["parameters"])},
            "if the model has a hand-written recurrence, these probes cannot see inside it.",
        )
    ]


def not_called(modules: list[Module], probes: Probes) -> list[Finding]:
    """layer-not-called: a recurrent module the forward pass never ran."""
    return [
        _finding(
            "layer-not-called",
            "info",
            module["name"],
            f"{module['name']} was not called in the forward pass",
            {},
            "nothing to probe; remove it if it is unused.",
        )
        for module in modules
        if module["calls"] == 0
    ]


def not_probed(modules: list[Module], probes: Probes) -> list[Finding]:
    """not-probed: the model holds recurrent modules and none of them could be probed, so
    no verdict on its gradient through time can be given (never "healthy" by default)."""
    probed = {record["module"] for record in probes["recurrent"]}
    if not modules or probed:
        return []
    reasons = {
        module["name"]: module["replay_error"]
        or ("not run in the forward pass" if module["calls"] == 0 else "no probe record")
        for module in modules
    }
    listed = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return [
        _finding(
            "not-probed",
            "warning",
            None,
            f"none of the model's {len(modules)} recurrent module(s) could be probed ({listed}): "
            "no verdict on the gradient through time",
            {"modules": reasons},
            "the findings above cover the whole model only; run the recurrent modules in the "
            "forward pass (on the input given) as an nn.RNN/LSTM/GRU or a cell stepped in a loop.",
        )
    ]


def state_graph(modules: list[Module], probes: Probes) -> list[Finding]:
    """state-carries-graph: the model keeps a recurrent final state between calls without
    detaching it, so the next call's initial state carries this call's graph."""
    kept = probes.get("kept_states") or []
    if not kept:
        return []
    names = ", ".join(kept)
    return [
        _finding(
            "state-carries-graph",
            "warning",
            None,
            f"{names} keeps a recurrent state with its graph attached: the next call starts "
            "from it, so its backward runs into this batch's graph again",
            {"attributes": kept},
            "detach the state when you keep it, e.g. self.hidden = tuple(h.detach() for h in "
            "hidden) (repackage_hidden in PyTorch's word_language_model example); torch raises "
            "'Trying to backward through the graph a second time' on the next batch, and "
            "memory grows with every batch otherwise.",
        )
    ]


def divergence(modules: list[Module], probes: Probes) -> list[Finding]:
    """training-divergence: over --steps the loss turned non-finite, ended above where it
    started, or rose back by more than half of what it had gained."""
    training = probes.get("training")
    if not training or training["steps_done"] < DIVERGE_MIN_STEPS:
        return []
    losses = training["losses"]
    step = training["first_nonfinite_step"]
    finite = [v for v in losses if v is not None]
    evidence: dict[str, Any] = {"lr": training["lr"], "losses": losses[:50]}
    if step is not None:
        summary = f"training: the loss turned NaN/Inf at step {step}"
        evidence["first_nonfinite_step"] = step
    elif finite:
        first, best, last = finite[0], min(finite), finite[-1]
        evidence.update(first=first, lowest=best, last=last)
        if last > first * DIVERGE_ABOVE_START:
            summary = f"training: the loss ended above where it started ({first:.4g} -> {last:.4g})"
        elif last - best > max(DIVERGE_GIVE_BACK * (first - best), DIVERGE_NOISE * best):
            summary = (
                f"training: the loss fell from {first:.4g} to {best:.4g} and rose again to "
                f"{last:.4g}"
            )
        else:
            return []
    else:
        return []
    advice = f"{_lower_lr(training)} (try a tenth) and {_clip_advice(probes)}."
    return [_finding("training-divergence", "error", None, summary, evidence, advice)]


def loss_broadcast(modules: list[Module], probes: Probes) -> list[Finding]:
    """loss-broadcast: --target and the output have different shapes that the loss broadcasts."""
    shapes = probes.get("loss_broadcast")
    if not shapes:
        return []
    out, target, both = (tuple(shapes[k]) for k in ("output", "target", "broadcast"))
    compared, numel = math.prod(both), max(math.prod(out), math.prod(target))
    if len(out) == len(target) + 1 and out[-1] == 1:
        fix = "loss_fn(output.squeeze(-1), target)"
    elif len(target) == len(out) + 1 and target[-1] == 1:
        fix = "loss_fn(output, target.squeeze(-1))"
    else:
        fix = "loss_fn(output, target.view_as(output))"
    summary = (
        f"the loss broadcasts output {out} against target {target} to {both}: it compares "
        f"{compared} pairs instead of {numel}, every output with targets of other samples"
    )
    advice = (
        f"make the shapes equal before the loss, e.g. {fix}; broadcast, the best the model can "
        "do is predict the mean target, so it never learns."
    )
    return [_finding("loss-broadcast", "error", None, summary, dict(shapes), advice)]


def slow_settings(modules: list[Module], probes: Probes) -> list[Finding]:
    """threads-exceed-cores and anomaly-detection-on: settings that slow every training step,
    read from probes["runtime"] (:func:`diagnostics.probes.stepcost.runtime_settings`)."""
    runtime = probes.get("runtime")
    if not runtime:
        return []
    findings = []
    threads, cores = runtime["threads"], runtime["cores"]
    if threads > cores:
        findings.append(
            _finding(
                "threads-exceed-cores",
                "warning",
                None,
                f"torch runs {threads} threads on {cores} usable CPU core(s): the threads "
                "take turns on a core, and every parallel operation waits for the one that "
                "is not running",
                {"threads": threads, "cores": cores},
                f"add torch.set_num_threads({cores}) before the training loop (or set "
                f"OMP_NUM_THREADS={cores}); torch's CPU threading notes advise no more "
                "threads than physical cores.",
            )
        )
    if runtime["anomaly_detection"]:
        findings.append(
            _finding(
                "anomaly-detection-on",
                "warning",
                None,
                "autograd anomaly detection is on: every operation records its stack trace "
                "and every backward checks for NaN, which slows each training step",
                {"anomaly_detection": True},
                "it is a debugging tool (torch.autograd.detect_anomaly: 'should be enabled "
                "only for debugging'): remove torch.autograd.set_detect_anomaly(True), or add "
                "torch.autograd.set_detect_anomaly(False) before the training loop, once the "
                "NaN it was hunting is found.",
            )
        )
    return findings


# --------------------------------------------------------------------------- watched run


def shrinking_horizons(modules: list[Module], probes: Probes) -> list[Finding]:
    """vanishing-gradient (watched run): a warning for each layer whose horizon shrank over
    the sampled steps (``probes["watch"]["history"]``)."""
    history = (probes.get("watch") or {}).get("history") or []
    if len(history) < 2:
        return []
    first = {(r["module"], r["layer"], r["direction"]): r for r in history[0]["layers"]}
    findings = []
    for now in history[-1]["layers"]:
        key = (now["module"], now["layer"], now["direction"])
        start = first.get(key)
        begin = (
            start["steps"] if start and start["horizon"] is None else (start or {}).get("horizon")
        )
        if begin is None or now["horizon"] is None or now["horizon"] > HORIZON_SHRINK * begin:
            continue
        where = f"layer {now['layer']} {'reverse' if now['direction'] else 'forward'}"
        findings.append(
            {
                "code": "vanishing-gradient",
                "severity": "warning",
                "module": now["module"],
                "summary": f"{now['module']} ({where}): the horizon shrank from "
                f"{'beyond ' if start['horizon'] is None else ''}{begin} steps at step "
                f"{history[0]['step']} to {now['horizon']} at step {history[-1]['step']}",
                "evidence": {
                    "steps": [h["step"] for h in history],
                    "horizons": [
                        next(
                            (
                                r["horizon"]
                                for r in h["layers"]
                                if (r["module"], r["layer"], r["direction"]) == key
                            ),
                            None,
                        )
                        for h in history
                    ],
                    "first_step": history[0]["step"],
                },
                "advice": "training is closing the gradient's path through time: check the "
                "recurrent weights' spectrum and saturation curves in TensorBoard from the step "
                "it began; an LSTM/GRU forget or update gate that saturates shut, or a learning "
                "rate that grows the input weights, are the usual causes.",
            }
        )
    return findings


def parameters_not_updated(modules: list[Module], probes: Probes) -> list[Finding]:
    """parameters-not-updated: a watched run whose optimizer never changes parameters
    that have gradients (``probes["watch"]["update_checks"]``: after each sampled step,
    which parameters with a gradient were left unchanged by the next one)."""
    update_checks = (probes.get("watch") or {}).get("update_checks") or []
    checks = [c for c in update_checks if c["with_gradient"]]
    stuck = [c for c in checks if len(c["unchanged"]) == c["with_gradient"]]
    if not checks or len(stuck) < len(checks):
        return []
    return [
        {
            "code": "parameters-not-updated",
            "severity": "error",
            "module": None,
            "summary": f"no parameter changed after any of the {len(checks)} sampled "
            "steps checked, although they had gradients",
            "evidence": {
                "steps_checked": [c["step"] for c in checks],
                "parameters_with_gradient": checks[-1]["with_gradient"],
            },
            "advice": "call optimizer.step() after loss.backward(), and build the optimizer "
            "on this model's parameters (model.parameters(), after moving the model to its "
            "device); check that its learning rate is not 0.",
        }
    ]


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Rule:
    """One check of the diagnosis: the function, the codes it may emit, where it looks.

    ``scope``: ``"module"``, ``check(module, records, probes)`` once per called recurrent
    module with its records (one per layer and direction); ``"pass"``, ``check(modules,
    probes)`` once per probed pass, on the whole model; ``"run"``, ``check(modules,
    probes)`` on the loss and gradient-norm series of a ``--steps`` run or a watched loop
    (``probes["training"]``); ``"watch"``, ``check(modules, probes)`` at the end of a
    watched loop, on what it saw over its sampled steps (``probes["watch"]``). What each
    code means, how it is measured, its thresholds and its fix: :mod:`diagnostics.codebook`.
    """

    check: Callable[..., list[Finding]]
    codes: tuple[str, ...]
    scope: str


RULES: tuple[Rule, ...] = (
    Rule(nonfinite, ("non-finite",), "pass"),
    Rule(no_recurrent_layer, ("no-recurrent-layer",), "pass"),
    Rule(not_called, ("layer-not-called",), "pass"),
    Rule(not_probed, ("not-probed",), "pass"),
    Rule(state_graph, ("state-carries-graph",), "pass"),
    Rule(loss_broadcast, ("loss-broadcast",), "pass"),
    Rule(slow_settings, ("threads-exceed-cores", "anomaly-detection-on"), "pass"),
    Rule(training_rules, ("exploding-gradient", "loss-spikes", "non-finite"), "run"),
    Rule(divergence, ("training-divergence",), "run"),
    Rule(no_gradient, ("no-gradient",), "module"),
    Rule(weight_source, ("no-gradient",), "module"),
    Rule(one_end, ("direction-read-at-one-end",), "module"),
    Rule(truncated, ("truncated-gradient",), "module"),
    Rule(repeated, ("repeated-calls",), "module"),
    Rule(replay_problems, ("replay-mismatch",), "module"),
    Rule(vanishing, ("vanishing-gradient",), "module"),
    Rule(exploding, ("exploding-gradient",), "module"),
    Rule(saturated, ("saturation",), "module"),
    Rule(dead, ("dead-units",), "module"),
    Rule(subnormal, ("subnormal-gradient",), "module"),
    Rule(shrinking_horizons, ("vanishing-gradient",), "watch"),
    Rule(parameters_not_updated, ("parameters-not-updated",), "watch"),
)
"""Every rule, in the order its findings are listed within a severity; the one place a
rule is added."""

CODES = tuple(dict.fromkeys(code for rule in RULES for code in rule.codes))
"""Every code the diagnosis emits (codes are added, never renamed: readers accept any)."""

SCOPES = ("pass", "run", "module")
"""What a diagnosis evaluates (a watched loop: "pass" and "module" per sampled step, "run"
and "watch" at its end)."""

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def evaluate(
    modules: list[Module], probes: Probes, scopes: tuple[str, ...] = SCOPES
) -> list[Finding]:
    """The findings of the rules of ``scopes``, errors first (whole-model rules, then each
    called module's)."""
    whole = [r for r in RULES if r.scope in scopes and r.scope != "module"]
    findings = [f for rule in whole for f in rule.check(modules, probes)]
    if "module" in scopes:
        per_module = [r for r in RULES if r.scope == "module"]
        for module in modules:
            if module["calls"] == 0:
                continue
            records = [r for r in probes["recurrent"] if r["module"] == module["name"]]
            findings += [f for rule in per_module for f in rule.check(module, records, probes)]
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f["severity"]])
