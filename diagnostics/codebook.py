"""Every finding code the diagnostics emit: what it means, how it is measured, the
thresholds it is judged by and the fix.

One entry per code, in the order a reader meets them (gradient through time first).
``thresholds`` names the constants the rule reads as ``module:NAME``; their values and
sources live beside the rule (their docstrings), and the documentation site's page of
finding codes reads them from there when it is built, so the page cannot drift from the
code. ``tests/docs/test_codebook.py`` checks that every code a rule can emit is here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeEntry:
    """One finding code and what a user needs to know about it."""

    code: str
    severities: tuple[str, ...]
    """Severities the code is emitted at, least severe first."""
    means: str
    measured: str
    thresholds: tuple[str, ...]
    """Constants the rule is judged by, ``module:NAME`` (read with their docstrings)."""
    fix: str


CODEBOOK: tuple[CodeEntry, ...] = (
    CodeEntry(
        code="vanishing-gradient",
        severities=("info", "warning", "error"),
        means="The gradient from the last step fades going back through time: the early steps "
        "of the sequence get (almost) nothing to learn from. In a watched run, a warning also "
        "when a layer's horizon shrank over training.",
        measured="Per layer and direction, the rnnref replay puts a gradient on the final "
        "state and runs it back through every step (in float64); the *horizon* is the number "
        "of steps until its norm fell 1000-fold. The finding reports the worst layer, with "
        "its decay per step, the mean norm of the step Jacobians along the real trajectory "
        "and the largest singular value of each W_hh gate block against Pascanu et al.'s "
        "bound. A horizon inside the band a default-initialised layer keeps is info (each "
        "cell type's `healthy_horizon` in `rnnref.cells`, measured over hidden 16-256, input "
        "8-64 and 35-200 steps: see the API page).",
        thresholds=(
            "diagnostics.probes.gradtime:HORIZON_FALL",
            "diagnostics.rules:VANISH_ERROR_HORIZON",
            "diagnostics.rules:VANISH_WARN_HORIZON",
            "diagnostics.rules:RNN_REACH_RATIO",
            "diagnostics.rules:FORGET_OPEN",
            "diagnostics.rules:HORIZON_SHRINK",
        ),
        fix="Use nn.LSTM or nn.GRU instead of nn.RNN, or initialise W_hh orthogonally "
        "(`torch.nn.init.orthogonal_`; the identity for a ReLU RNN); for an LSTM whose forget "
        "gate is mostly closed, set the forget-gate bias to 1; normalise saturating inputs; "
        "where the loss reads every step, truncate backpropagation to about the horizon.",
    ),
    CodeEntry(
        code="exploding-gradient",
        severities=("warning", "error"),
        means="The gradient grows going back through time (or, during `--steps` and in a "
        "watched run, the global gradient norm spikes): updates become huge and training "
        "jumps or turns NaN.",
        measured="The same end pass as vanishing-gradient: *growth* is the largest ratio of "
        "the gradient's norm at an earlier step to its norm at the end. During training, the "
        "largest global gradient norm over its median. Round-off amplified by a chaotic "
        "recurrence is reported in the evidence (`round_off`).",
        thresholds=(
            "diagnostics.rules:EXPLODE_ERROR_GROWTH",
            "diagnostics.rules:EXPLODE_WARN_GROWTH",
            "diagnostics.rules:EXPLODE_WARN_SPIKE",
        ),
        fix="Clip the gradient norm with `torch.nn.utils.clip_grad_norm_` (a `max_norm` is "
        "suggested from your own loss's gradient norms when `--target` is given), initialise "
        "W_hh orthogonally or scale it so its largest singular value is at most 1, lower the "
        "learning rate.",
    ),
    CodeEntry(
        code="saturation",
        severities=("warning", "error"),
        means="Gates or tanh units sit at their limits, where their derivative is near zero: "
        "the gradient through them is lost.",
        measured="The replay's gate activations over the batch and all steps: the fraction "
        "hard-saturated (sigmoid below 0.01 or above 0.99, |tanh| above 0.99), for each gate "
        "and for the tanh units; a forget gate counts on its low side only (near 1 it keeps "
        "memory). The finding reports the most saturated gate.",
        thresholds=(
            "diagnostics.probes.saturation:SOFT",
            "diagnostics.probes.saturation:TANH_SOFT",
            "diagnostics.rules:SATURATION_ERROR",
            "diagnostics.rules:SATURATION_WARN",
        ),
        fix="Normalise the inputs (standardise the features, or LayerNorm before the layer), "
        "shrink the input weights (default init or `xavier_uniform_` on weight_ih), lower the "
        "learning rate; for a closed forget gate, set its bias to 1.",
    ),
    CodeEntry(
        code="dead-units",
        severities=("warning", "error"),
        means="ReLU units of a ReLU RNN that never fire over the batch and all steps: they "
        "pass no gradient and never recover.",
        measured="The replay's states: the fraction of hidden units that are zero at every "
        "step of every sequence.",
        thresholds=("diagnostics.rules:DEAD_ERROR", "diagnostics.rules:DEAD_WARN"),
        fix="Set the ReLU layer's biases to 0 (or slightly positive), initialise W_hh as the "
        "identity (Le et al. 2015), lower the learning rate, or use `nonlinearity='tanh'`, "
        "nn.LSTM or nn.GRU.",
    ),
    CodeEntry(
        code="non-finite",
        severities=("error",),
        means="NaN or Inf in the weights, the activations, the gradients or the loss.",
        measured="Every parameter and its gradient, every module's output and output "
        "gradient in the probe pass, the replay's states and gradients step by step (the "
        "first step that is not finite), and the loss and gradient norm of each `--steps` or "
        "watched step. The finding names where it first appears.",
        thresholds=(),
        fix="Re-initialise or reload the parameters from a clean checkpoint; check the input "
        "for NaN/Inf and the module's operations (log, division, exp); when training put "
        "them there, lower the learning rate and clip the gradient norm.",
    ),
    CodeEntry(
        code="no-gradient",
        severities=("info", "error"),
        means="A recurrent module, layer or direction (or the Parameter a weight-dropped "
        "weight is computed from) that the loss's gradient never reaches: it never trains. A "
        "module frozen on purpose (`requires_grad=False`) is info.",
        measured="After the probe's backward, per layer and direction: is any trainable "
        "parameter's gradient present and non-zero? For weight drop, whether the weight that "
        "ran is connected in the autograd graph to its Parameter.",
        thresholds=(),
        fix="Remove the `.detach()` or `torch.no_grad()` between the module and the loss; on "
        "a bidirectional layer read both directions, "
        "`fc(torch.cat((h_n[-2], h_n[-1]), dim=-1))` (`h_n[-1]` alone is the reverse "
        "direction); compute a dropped weight from the Parameter itself, not from its "
        "`.data` or a detached copy.",
    ),
    CodeEntry(
        code="direction-read-at-one-end",
        severities=("warning",),
        means="The loss reads a direction's output where that direction has just started: "
        "`fc(out[:, -1, :])` on a bidirectional layer reads the reverse direction after one "
        "input, so its recurrence is never trained.",
        measured="Per direction, the steps the loss's gradient dL/dh_t reaches directly, in "
        "the order the direction runs them: reported when they are only its first steps.",
        thresholds=("diagnostics.rules:ONE_END_MIN_STEPS", "diagnostics.rules:ONE_END_SHARE"),
        fix="Read each direction at its own end: "
        "`fc(torch.cat((h_n[-2], h_n[-1]), dim=-1))`, or `out[:, -1, :H]` with "
        "`out[:, 0, H:]`.",
    ),
    CodeEntry(
        code="truncated-gradient",
        severities=("error",),
        means="The state is detached between the chunks of one forward pass, so the "
        "gradient crosses no chunk boundary and the model cannot learn dependencies longer "
        "than a chunk.",
        measured="Each call of the layer within one forward pass, with whether its initial "
        "state is connected to the previous call's final state in the autograd graph; the "
        "longest run of steps no detach cuts.",
        thresholds=(),
        fix="Pass the state on without `.detach()` inside forward (detach between batches, "
        "not between the chunks of one sequence), or make the chunks as long as the "
        "dependencies the model must learn.",
    ),
    CodeEntry(
        code="state-carries-graph",
        severities=("warning",),
        means="The model keeps its recurrent state between calls with the autograd graph "
        "attached: the next batch's backward runs into this batch's graph (torch: 'Trying to "
        "backward through the graph a second time') and memory grows with every batch.",
        measured="After the forward pass, the model's attributes holding a tensor that "
        "requires grad and comes from a recurrent module's final state. Under `--steps`, "
        "torch's error becomes one line naming that state (exit 2).",
        thresholds=(),
        fix="Detach the state when you keep it: "
        "`self.hidden = tuple(h.detach() for h in hidden)` (`repackage_hidden` in PyTorch's "
        "word language model example).",
    ),
    CodeEntry(
        code="loss-broadcast",
        severities=("error",),
        means="`--target` and the output have different shapes that the loss broadcasts: a "
        "target (32,) against an output (32, 1) compares 32 x 32 pairs, every output with "
        "the targets of other samples, so the model can only learn the mean.",
        measured="The shapes of the output and of `--target` before the loss, and the shape "
        "they broadcast to.",
        thresholds=(),
        fix="Make the shapes equal before the loss, e.g. `loss_fn(output.squeeze(-1), target)`.",
    ),
    CodeEntry(
        code="training-divergence",
        severities=("error",),
        means="Over `--steps` (Adam on the probe batch) or a watched run, the loss turned "
        "NaN/Inf, ended above where it started, or rose back by more than half of what it "
        "had gained.",
        measured="The loss of each step: first, lowest and last value, and the first "
        "non-finite step.",
        thresholds=(
            "diagnostics.rules:DIVERGE_MIN_STEPS",
            "diagnostics.rules:DIVERGE_ABOVE_START",
            "diagnostics.rules:DIVERGE_GIVE_BACK",
        ),
        fix="Lower the learning rate (try a tenth) and clip the gradient norm.",
    ),
    CodeEntry(
        code="loss-spikes",
        severities=("warning",),
        means="During `--steps` or a watched run the loss jumped above twice its recent "
        "median at some steps.",
        measured="Each step's loss against the median of the few losses before it.",
        thresholds=("diagnostics.probes.training:SPIKE_FACTOR",),
        fix="Lower the learning rate and clip the gradient norm.",
    ),
    CodeEntry(
        code="parameters-not-updated",
        severities=("error",),
        means="In a watched run (`diagnostics.watch`), parameters that had a gradient did "
        "not change between sampled steps: the optimizer is not stepping this model (built "
        "over another model's parameters, `optimizer.step()` missing, or a learning rate "
        "of 0).",
        measured="At each sampled step, the parameters with a gradient are compared with "
        "their values at the next sampled step; reported when none changed at any check.",
        thresholds=(),
        fix="Call `optimizer.step()` after `loss.backward()`, build the optimizer on this "
        "model's parameters (after moving the model to its device), and check that its "
        "learning rate is not 0.",
    ),
    CodeEntry(
        code="subnormal-gradient",
        severities=("info", "warning"),
        means="In float32 on a CPU, much of the loss's gradient dL/dh_t lies in float32's "
        "subnormal range (1.4e-45 to 1.2e-38), where x86 computes 10-100 times slower: a "
        "classifier on the last of many steps is the usual case. A warning when the cure, "
        "measured on your own layer and batch, makes its training pass twice as fast or more.",
        measured="The fraction of the real gradient's values dL/dh_t, per layer and "
        "direction, that are subnormal in float32; then, once per module, the layer's "
        "captured call (forward+backward) timed as the step runs it against the same call "
        "with `torch.set_flush_denormal(True)` at one thread, on a copy (the flag, the "
        "thread count, the random state and your gradients restored): `speedup` in the "
        "evidence.",
        thresholds=(
            "diagnostics.rules:SUBNORMAL_SHARE",
            "diagnostics.rules:FLUSH_WARN_SPEEDUP",
        ),
        fix="Add `torch.set_flush_denormal(True)` and `torch.set_num_threads(1)` before the "
        "training loop on the CPU (the flag flushes the calling thread only); `rnnref bench "
        "model` times this path (`flush-denormal`) on your whole model.",
    ),
    CodeEntry(
        code="threads-exceed-cores",
        severities=("warning",),
        means="torch runs more threads than the CPU cores the process may use: the threads "
        "take turns on a core, and every parallel operation waits for the one not running.",
        measured="`torch.get_num_threads()` against the process's affinity mask (else "
        "`os.cpu_count()`), read when the step is probed (`probes.runtime`).",
        thresholds=(),
        fix="Call `torch.set_num_threads(CORES)` before the training loop, or set "
        "`OMP_NUM_THREADS`.",
    ),
    CodeEntry(
        code="anomaly-detection-on",
        severities=("warning",),
        means="Autograd anomaly detection is on: every operation records its stack trace and "
        "every backward checks for NaN, which slows each training step.",
        measured="`torch.is_anomaly_enabled()` when the step is probed (`probes.runtime`).",
        thresholds=(),
        fix="Remove `torch.autograd.set_detect_anomaly(True)` (or call it with False before "
        "the training loop) once the NaN it was hunting is found.",
    ),
    CodeEntry(
        code="replay-mismatch",
        severities=("warning",),
        means="rnnref could not reproduce the layer (its replayed input gradient differs "
        "from torch's, or the replay failed), so the layer's per-step probes are not used.",
        measured="The relative error between the replay's input gradient and torch's, in "
        "float32, then against the same torch layer in float64, then over the first steps "
        "only.",
        thresholds=("diagnostics.replay:AGREEMENT_TOL", "diagnostics.replay:SHORT_STEPS"),
        fix="If the module overrides forward or uses hooks, probe a plain nn.RNN/LSTM/GRU "
        "copy of it.",
    ),
    CodeEntry(
        code="not-probed",
        severities=("warning",),
        means="The model holds recurrent modules and none of them could be probed, so no "
        "verdict on the gradient through time is given (such a model is never reported "
        "healthy).",
        measured="The probe records: a recurrent module found in the model with no record, "
        "each listed with why.",
        thresholds=(),
        fix="Run the recurrent modules in the forward pass on the input given, as an "
        "nn.RNN/LSTM/GRU or a cell stepped in a loop.",
    ),
    CodeEntry(
        code="layer-not-called",
        severities=("info",),
        means="A recurrent module the forward pass never ran: there is nothing to probe.",
        measured="The number of calls the capture counted for the module.",
        thresholds=(),
        fix="Nothing, or remove the module if it is unused.",
    ),
    CodeEntry(
        code="repeated-calls",
        severities=("info",),
        means="A layer run more than once in one forward pass (not stepped through its "
        "state): the probes describe its first call.",
        measured="The number of calls the capture counted for the module.",
        thresholds=(),
        fix="Run the layer over the whole sequence in one call to probe it through time.",
    ),
    CodeEntry(
        code="no-recurrent-layer",
        severities=("info",),
        means="The model holds no nn.RNN, nn.LSTM, nn.GRU or recurrent cell: only the "
        "whole-model probes (gradient and weight norms, NaN/Inf) ran.",
        measured="The modules of the model.",
        thresholds=(),
        fix="Nothing; a hand-written recurrence cannot be seen inside by these probes.",
    ),
)
"""Every finding code, in the order of the documentation page."""
