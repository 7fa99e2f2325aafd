"""Rules: turn probe results into findings with a code, severity, evidence and advice.

Every threshold sits beside the rule that uses it with its source. Where the
source is "corpus", the value was set on the fault corpus
(``python -m diagnostics evaluate``), between what default-initialised
healthy models show and what the injected faults produce; the README holds
the measured precision and recall.
"""

from __future__ import annotations

from typing import Any

from reports.findingsfile import CODES

Finding = dict[str, Any]
Record = dict[str, Any]

# --------------------------------------------------------------------------- thresholds

VANISH_ERROR_HORIZON = 5
"""Error when the gradient from the end falls 1000-fold within this many steps
(a per-step factor below 1000^(-1/5) = 0.25). Source: corpus; default-initialised
nn.RNN/LSTM/GRU there keep a horizon of 7-15 steps (ReLU RNN 7-9, tanh RNN 9-13,
LSTM 10-12, GRU 13-15), the injected vanishing faults 2-4."""

EXPLODE_ERROR_GROWTH = 1e3
"""Error when the gradient from the end grows 1000-fold going back (the mirror of the
1000-fold horizon of issue 5)."""

EXPLODE_WARN_GROWTH = 10.0
"""Warning when it grows 10-fold (one decade: a gradient that grows with distance)."""

EXPLODE_WARN_SPIKE = 10.0
"""Warning when, during --steps, the largest global gradient norm exceeds 10x the median
(a spike of one decade; Pascanu et al. 2013, section 3: exploding gradients show as
sudden large norms)."""

SATURATION_ERROR = 0.5
"""Error when at least half of a gate's (or the tanh units') activations are hard-saturated
(sigmoid < 0.01 or > 0.99, |tanh| > 0.99; cut-offs from Karpathy et al. 2015 and issue 5).
Source: corpus; default initialisation gives 0%, input weights x 30 give 76-92%."""

SATURATION_WARN = 0.2
"""Warning at 20% hard-saturated activations (corpus)."""

DEAD_ERROR = 0.25
"""Error when at least a quarter of a ReLU layer's units never fire over the batch and all
steps. Source: corpus; default initialisation gives 0-16% (8 sequences, hidden 16-32),
the injected faults 50-100%."""

DEAD_WARN = 0.05
"""Warning when at least 5% never fire."""

FORGET_OPEN = 0.7
"""Advise a forget-gate bias of 1 (Gers et al. 2000; Jozefowicz et al. 2015) when the mean
forget gate is below this: torch's zero-mean init gives sigmoid(0) = 0.5, a bias of 1 gives
about sigmoid(1) = 0.73."""


def _finding(
    code: str, severity: str, module: str | None, summary: str, evidence: dict, advice: str
) -> Finding:
    assert code in CODES, f"undocumented finding code {code!r}: add it to findingsfile.CODES"
    return {
        "code": code,
        "severity": severity,
        "module": module,
        "summary": summary,
        "evidence": evidence,
        "advice": advice,
    }


def _where(record: Record) -> str:
    direction = "reverse" if record["direction"] else "forward"
    return f"layer {record['layer']} {direction}"


def _clip_value(probes: dict[str, Any]) -> float | None:
    training = probes.get("training") or {}
    return training.get("suggested_clip") or probes["whole_model"].get("global_grad_norm")


def _clip_advice(probes: dict[str, Any]) -> str:
    value = _clip_value(probes)
    training = probes.get("training")
    if value is None:
        return "clip the gradient norm with torch.nn.utils.clip_grad_norm_"
    source = (
        "the mean norm over the --steps run (Pascanu et al. 2013)"
        if training and training.get("suggested_clip")
        else "this pass's global gradient norm; run with --steps 50 to measure the mean"
    )
    return (
        f"clip with torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={value:.3g}) "
        f"({source})"
    )


def _lower_lr(training: dict[str, Any]) -> str:
    """Advice to lower the learning rate, naming it when the run knows it (--steps)."""
    lr = training.get("lr")
    return "lower the learning rate" + (f" (now {lr:g})" if lr is not None else "")


# --------------------------------------------------------------------------- per-layer rules


def _broken(record: Record) -> bool:
    """Records whose gradient numbers cannot be used: non-finite or untrusted replay."""
    nonfinite = record["nonfinite"]
    return (
        not record["trusted"]
        or nonfinite["forward_step"] is not None
        or nonfinite["backward_step"] is not None
    )


def vanishing(records: list[Record], module: dict[str, Any]) -> list[Finding]:
    """vanishing-gradient: the gradient from the end falls 1000-fold before the sequence start."""
    usable = [r for r in records if not _broken(r) and r["horizon"] is not None]
    if not usable:
        return []
    worst = min(usable, key=lambda r: r["horizon"])
    horizon, steps = worst["horizon"], worst["steps"]
    if horizon <= VANISH_ERROR_HORIZON:
        severity = "error"
    elif horizon < steps - 1:
        severity = "warning"
    else:
        return []
    cell = worst["cell"]
    blocks = (worst["spectrum"] or {}).get("blocks", {})
    evidence: dict[str, Any] = {
        "layer": worst["layer"],
        "direction": worst["direction"],
        "horizon_steps": horizon,
        "sequence_steps": steps,
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
    if cell.startswith("rnn"):
        advice.append(
            "replace nn.RNN with nn.LSTM or nn.GRU, or initialise W_hh orthogonally "
            "(torch.nn.init.orthogonal_ on each weight_hh)"
            + (" or as the identity for a ReLU RNN (Le et al. 2015)" if cell == "rnn_relu" else "")
        )
    forget = worst["saturation"]["mean_forget"]
    if cell == "lstm" and forget is not None and forget < FORGET_OPEN:
        evidence["mean_forget_gate"] = forget
        advice.append(
            f"the mean forget gate is {forget:.2f}: set the forget-gate bias to 1 "
            "(bias_ih and bias_hh rows H:2H; Jozefowicz et al. 2015)"
        )
    if cell == "gru":
        advice.append("initialise W_hh orthogonally (torch.nn.init.orthogonal_ on weight_hh)")
    sat = _worst_saturation(worst)
    if sat is not None and sat[1] >= SATURATION_WARN:
        advice.append(
            f"{sat[0]} is {sat[1]:.0%} saturated: normalise the inputs or shrink the input weights"
        )
    advice.append(f"or truncate backpropagation to about {max(horizon, 1)} steps")
    summary = (
        f"{module['name']} ({_where(worst)}): the gradient from the last step falls 1000-fold "
        f"within {horizon} of {steps} steps"
    )
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


def exploding(records: list[Record], module: dict[str, Any], probes: dict) -> list[Finding]:
    """exploding-gradient: the gradient from the end grows going back through time."""
    usable = [r for r in records if not _broken(r) and r["growth"] is not None]
    if not usable:
        return []
    worst = max(usable, key=lambda r: r["growth"])
    growth = worst["growth"]
    if growth >= EXPLODE_ERROR_GROWTH:
        severity = "error"
    elif growth >= EXPLODE_WARN_GROWTH:
        severity = "warning"
    else:
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


def saturated(records: list[Record], module: dict[str, Any]) -> list[Finding]:
    """saturation: gates or tanh units stuck near their limits."""
    found = [(r, _worst_saturation(r)) for r in records if r["nonfinite"]["forward_step"] is None]
    found = [(r, s) for r, s in found if s is not None]
    if not found:
        return []
    record, (what, fraction) = max(found, key=lambda rs: rs[1][1])
    if fraction >= SATURATION_ERROR:
        severity = "error"
    elif fraction >= SATURATION_WARN:
        severity = "warning"
    else:
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


def dead(records: list[Record], module: dict[str, Any]) -> list[Finding]:
    """dead-units: ReLU units that never fire over the batch and all steps."""
    found = [
        r for r in records if r["dead_units"] is not None and r["nonfinite"]["forward_step"] is None
    ]
    if not found:
        return []
    record = max(found, key=lambda r: r["dead_units"]["fraction"])
    fraction = record["dead_units"]["fraction"]
    if fraction >= DEAD_ERROR:
        severity = "error"
    elif fraction >= DEAD_WARN:
        severity = "warning"
    else:
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


def replay_problems(module: dict[str, Any], tolerance: float) -> list[Finding]:
    """replay-mismatch: rnnref could not reproduce the layer, so its per-step probes are unused."""
    if module["replay_error"]:
        summary = f"{module['name']}: rnnref could not replay this layer"
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


# --------------------------------------------------------------------------- whole model


def nonfinite(probes: dict[str, Any]) -> list[Finding]:
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


def training_rules(probes: dict[str, Any]) -> list[Finding]:
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


def evaluate(modules: list[dict[str, Any]], probes: dict[str, Any]) -> list[Finding]:
    """All findings, errors first."""
    findings = nonfinite(probes)
    if not modules:
        findings.append(
            _finding(
                "no-recurrent-layer",
                "info",
                None,
                "no nn.RNN, nn.LSTM or nn.GRU found: only whole-model probes ran",
                {"parameters": len(probes["whole_model"]["parameters"])},
                "if the model has a hand-written recurrence, these probes cannot see inside it.",
            )
        )
    for module in modules:
        records = [r for r in probes["recurrent"] if r["module"] == module["name"]]
        if module["calls"] == 0:
            findings.append(
                _finding(
                    "layer-not-called",
                    "info",
                    module["name"],
                    f"{module['name']} was not called in the forward pass",
                    {},
                    "nothing to probe; remove it if it is unused.",
                )
            )
            continue
        if module["calls"] > 1:
            findings.append(
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
            )
        findings += replay_problems(module, probes["replay_tolerance"])
        findings += vanishing(records, module)
        findings += exploding(records, module, probes)
        findings += saturated(records, module)
        findings += dead(records, module)
    findings += training_rules(probes)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order[f["severity"]])
