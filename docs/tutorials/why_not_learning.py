# %% [markdown]
# # Why does my RNN not learn?
#
# A recurrent network whose loss will not go down is one of the most common problems
# people have with RNNs, and one of the hardest to debug by staring at the loss curve:
# a bug in the initialisation, a state detached in the wrong place or a gradient that
# fades on its way back through time all look the same from outside, a flat loss.
#
# `diagnostics` looks inside. In this tutorial you will:
#
# 1. train a small tanh RNN that does not learn;
# 2. diagnose it with `diagnostics.diagnose` and read the finding;
# 3. fix the bug and diagnose again;
# 4. train the fixed model with `diagnostics.watch` in the training loop, and read what
#    the watch recorded back from its TensorBoard event file.

# %%
import pathlib
import shutil

import matplotlib.pyplot as plt
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

import diagnostics

torch.manual_seed(0)
OUT = pathlib.Path("out/tutorials/why_not_learning")
shutil.rmtree(OUT, ignore_errors=True)  # the watch below starts from an empty log_dir

# %% [markdown]
# ## A task that needs memory
#
# Each input is a sequence of 20 steps of 8 random features. The label is whether the
# very first feature of the **first** step was positive; the 19 steps after it are
# noise. To answer at the end, the network has to carry one bit across the whole
# sequence, and to learn to do that, the gradient of the loss at the last step has to
# reach the first step.

# %%
STEPS, FEATURES, HIDDEN, BATCH = 20, 8, 32, 32


def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of sequences (BATCH, STEPS, FEATURES) and their labels (BATCH,)."""
    x = torch.randn(BATCH, STEPS, FEATURES, generator=generator)
    return x, (x[:, 0, 0] > 0).long()


# %% [markdown]
# ## The model, with a bug
#
# A tanh RNN reads the sequence and a linear layer classifies its last state. The bug
# is one many people copy from older papers and tutorials: "initialise the weights from
# N(0, 0.01)". For the recurrent weights W_hh that is far too small.


# %%
class Reader(nn.Module):
    """A tanh RNN over (batch, steps, features) and a classifier on its last step."""

    def __init__(self, small_init: bool) -> None:
        super().__init__()
        self.rnn = nn.RNN(FEATURES, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 2)
        if small_init:  # the bug
            for name, param in self.rnn.named_parameters():
                if name.startswith("weight"):
                    nn.init.normal_(param, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def train(model: nn.Module, steps: int, monitor=None) -> list[float]:
    """Train with Adam on fresh batches; return the loss of every step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        x, y = batch(generator)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if monitor is not None:
            monitor.step(loss)  # after backward, before optimizer.step()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


broken = Reader(small_init=True)
losses = train(broken, steps=40)
print(f"loss at step 0: {losses[0]:.3f}, mean of the last 20 steps: {sum(losses[-20:]) / 20:.3f}")

# %% [markdown]
# The loss stays at ln 2 ≈ 0.693: the model guesses. Nothing crashed, no value is NaN.

# %% [markdown]
# ## Diagnose it
#
# `diagnostics.diagnose(model, x, loss_fn)` runs the model once on a batch, with your
# loss, records every recurrent layer on the inputs it really receives, replays it
# step by step in the NumPy reference (`rnnref`) and measures the gradient through
# time, the recurrent weights' spectrum, saturation and more. It returns the findings
# document, a dict with the same content as the `findings.json` that the command line
# (`python -m diagnostics my_model.py:build --input "float32[32,20,8]"`) writes.

# %%
x, y = batch(torch.Generator().manual_seed(2))
broken = Reader(small_init=True)  # a fresh copy, as it was before training


def loss_fn(output: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(output, y)


findings = diagnostics.diagnose(broken, x, loss_fn=loss_fn)
for finding in findings["findings"]:
    print(f"{finding['severity']}: {finding['code']}: {finding['summary']}")
    print(f"  what to do: {finding['advice']}")

# %% [markdown]
# In Jupyter the document shows itself as a table:

# %%
findings

# %% [markdown]
# `vanishing-gradient`: the gradient of the loss, which enters at the last step, is a
# thousand times smaller within a few steps back, so the weights never learn anything
# from the first step, where the label is decided. The probe behind it is in the
# document: `end_curve` holds the gradient's size k steps back from the end, relative
# to the end.

# %%
record = findings["probes"]["recurrent"][0]
print("horizon (steps until a 1000-fold fall):", record["horizon"], "of", record["steps"])
print("decay per step:", f"{record['decay_per_step']:.3f}")

# %% [markdown]
# ## Fix it
#
# Keep torch's default initialisation for the input weights, and start W_hh as an
# orthogonal matrix: every singular value is 1, so a step of the recurrence neither
# shrinks nor grows the gradient by itself.


# %%
class FixedReader(Reader):
    """The same model with the recurrent weights initialised orthogonal."""

    def __init__(self) -> None:
        super().__init__(small_init=False)
        nn.init.orthogonal_(self.rnn.weight_hh_l0)


fixed = FixedReader()
fixed_findings = diagnostics.diagnose(fixed, x, loss_fn=loss_fn)
codes = [finding["code"] for finding in fixed_findings["findings"]]
print("findings after the fix:", codes or "none")

# %% [markdown]
# Both gradient curves side by side, from the two documents:

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, doc in (("N(0, 0.01) init (bug)", findings), ("orthogonal W_hh (fix)", fixed_findings)):
    curve = doc["probes"]["recurrent"][0]["end_curve"]
    values = [float("nan") if v is None else v for v in curve]  # None: not finite
    ax.semilogy(range(len(curve)), values, marker=".", label=name)
ax.axhline(1e-3, color="red", linestyle="--", linewidth=1, label="1000-fold fall")
ax.set_xlabel("steps back from the last step")
ax.set_ylabel("|dL/dh| relative to the last step")
ax.set_title("Gradient through time")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Train it, watched
#
# A diagnosis looks at one batch. `diagnostics.watch(model, log_dir, every)` looks at
# your own training loop as it runs: every `every`-th step is probed on its real batch
# and its real gradient, the steps in between run untouched. It needs one call per
# step, `monitor.step(loss)`, after `loss.backward()` and before `optimizer.step()`
# (our `train` function above makes it). On exit it writes `findings.json`,
# `report.html` and TensorBoard event files to `log_dir`.

# %%
fixed = FixedReader()
with diagnostics.watch(fixed, log_dir=OUT, every=40) as monitor:
    losses = train(fixed, steps=200, monitor=monitor)
print(f"loss at step 0: {losses[0]:.3f}, mean of the last 20 steps: {sum(losses[-20:]) / 20:.3f}")
print("findings of the watched run:", [f["code"] for f in monitor.findings["findings"]] or "none")

# %% [markdown]
# The monitor, too, shows what it recorded (steps probed, the numbers of the last
# probed step, the findings):

# %%
monitor

# %% [markdown]
# ## Read the TensorBoard events back
#
# `tensorboard --logdir out/tutorials/why_not_learning` shows the curves in the
# browser. In Python, TensorBoard's own `EventAccumulator` reads them: the scalar tags
# are the loss (`train/loss`), the gradient norm, and per recurrent layer its horizon,
# decay per step, spectrum and saturation (`horizon/rnn/l0_forward`, ...).

# %%
events = EventAccumulator(str(OUT))
events.Reload()
print(sorted(events.Tags()["scalars"]))
loss_events = events.Scalars("train/loss")
decay_events = events.Scalars("decay_per_step/rnn/l0_forward")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.plot([e.step for e in loss_events], [e.value for e in loss_events], marker="o")
left.set_title("loss at the probed steps")
right.plot([e.step for e in decay_events], [e.value for e in decay_events], marker="o")
right.set_title("gradient decay per step (1 = no decay)")
for ax in (left, right):
    ax.set_xlabel("training step")
fig.tight_layout()
plt.show()

# %% [markdown]
# The loss falls as the gradient's decay per step climbs towards 1: the network learns
# to carry the first step's bit across the sequence, and the gradient then reaches the
# first step with little loss. A decay per step that kept climbing well above 1 would
# be an exploding gradient on its way; one that sank well below 1, a vanishing one.
#
# ## What to try on your own model
#
# - `python -m diagnostics my_model.py:build --input "float32[32,100,16]"` diagnoses a
#   model file from the command line and writes an HTML report beside `findings.json`.
# - Other bugs it names: a bidirectional layer whose classifier reads only one
#   direction (`no-gradient`), a state detached between chunks (`truncated-gradient`),
#   a hidden state kept with its graph (`state-carries-graph`), a loss whose output and
#   target shapes broadcast (`loss-broadcast`), an optimizer that never updates the
#   parameters (`parameters-not-updated`, in a watched run).
