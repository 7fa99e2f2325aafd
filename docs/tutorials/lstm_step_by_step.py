# %% [markdown]
# # An LSTM, step by step
#
# `torch.nn.LSTM` runs a whole sequence in one fused call: you see the outputs and
# the final state, never the gates, and autograd gives you the gradient of the
# weights but not how the gradient travels back through time. `rnnref` computes the
# same layer in NumPy, one step at a time, and keeps what happened at every step.
#
# In this tutorial you will:
#
# 1. run one LSTM in torch and in rnnref with the same weights and check that they agree;
# 2. compute one step of the LSTM by hand from its equations;
# 3. look at the gates and states at every step;
# 4. run the backward pass and watch the gradient dL/dh_t travel back through time.
#
# Everything runs in float64 on the CPU, so "agree" means agreement to round-off.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import rnnref

torch.manual_seed(0)
rng = np.random.default_rng(0)


def max_difference(what, a, b):
    """Print the largest absolute difference between two arrays of the same shape."""
    print(f"max difference, {what}: {np.abs(a - b).max():.1e}")


# %% [markdown]
# ## The same LSTM in torch and in rnnref
#
# `rnnref.LSTM.from_torch` copies the weights of a `torch.nn.LSTM` (same names,
# same shapes: `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`). The
# input is time-major, `(T, B, F)`: T steps, a batch of B sequences, F features each.

# %%
T, B, F, H = 30, 3, 4, 8  # steps, batch, input features, hidden units

torch_lstm = torch.nn.LSTM(F, H).double()
lstm = rnnref.LSTM.from_torch(torch_lstm)
print(lstm)

x = rng.standard_normal((T, B, F))
out, (h_n, c_n) = lstm(x)
torch_out, (torch_h_n, torch_c_n) = torch_lstm(torch.from_numpy(x))

print("out", out.shape, " h_n", h_n.shape, " c_n", c_n.shape)
max_difference("outputs (rnnref vs torch)", out, torch_out.detach().numpy())
max_difference("final cell state (rnnref vs torch)", c_n, torch_c_n.detach().numpy())

# %% [markdown]
# The other direction works too: `lstm.to_torch()` builds a `torch.nn.LSTM` holding
# rnnref's weights, for instance after you edited them in NumPy.

# %%
back = lstm.to_torch()
same = all(torch.equal(back.state_dict()[k], v) for k, v in torch_lstm.state_dict().items())
print(type(back).__name__, "with the same weights:", same)

# %% [markdown]
# ## One step by hand
#
# At step t an LSTM reads the input x_t and the previous state (h_{t-1}, c_{t-1}) and
# computes four gates from one matrix product each:
#
# - input gate i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
# - forget gate f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
# - cell candidate g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
# - output gate o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
#
# then the new cell c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t and the new state h_t = o_t ⊙ tanh(c_t).
# torch stores the four gates' weights stacked in the order i, f, g, o, so
# `weight_ih_l0` is `(4H, F)` and `weight_hh_l0` is `(4H, H)`.
#
# Here is the whole sequence computed with exactly these lines:


# %%
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


weights = lstm.state_dict()
W_ih, W_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
bias = weights["bias_ih_l0"] + weights["bias_hh_l0"]

h, c = np.zeros((B, H)), np.zeros((B, H))  # the initial state: zeros, as in torch
by_hand = {"i": [], "f": [], "g": [], "o": [], "h": [], "c": []}
for t in range(T):
    z = x[t] @ W_ih.T + h @ W_hh.T + bias  # (B, 4H): the four gates' pre-activations
    i, f, g, o = np.split(z, 4, axis=1)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c = f * c + i * g
    h = o * np.tanh(c)
    for name, value in zip("ifgohc", (i, f, g, o, h, c), strict=True):
        by_hand[name].append(value)
by_hand = {name: np.stack(values) for name, values in by_hand.items()}  # each (T, B, H)

# %% [markdown]
# `lstm.trace(layer, direction)` returns what rnnref computed inside its last forward:
# `states` h_t and `cells` c_t, `(T, B, H)`, and `gates`, a dict of `(T, B, H)`
# arrays named `i f g o`. They are the same numbers as ours:

# %%
trace = lstm.trace(layer=0, direction=0)
for name in "ifgo":
    max_difference(f"gate {name} (by hand vs rnnref)", by_hand[name], trace.gates[name])
max_difference("h_t (by hand vs rnnref)", by_hand["h"], trace.states)
max_difference("c_t (by hand vs rnnref)", by_hand["c"], trace.cells)

# %% [markdown]
# ## The gates over time
#
# The gates of the first sequence of the batch, one line per hidden unit. A gate near
# 0 closes, near 1 opens: the forget gate decides how much of c_{t-1} survives a
# step, the input gate how much of the candidate g_t is written.

# %%
fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True)
panels = [
    ("i", "input gate i_t"),
    ("f", "forget gate f_t"),
    ("o", "output gate o_t"),
    ("g", "cell candidate g_t"),
    ("c", "cell c_t"),
    ("h", "state h_t"),
]
series = {**trace.gates, "c": trace.cells, "h": trace.states}
for ax, (name, title) in zip(axes.flat, panels, strict=True):
    ax.plot(series[name][:, 0, :], linewidth=1)
    ax.set_title(title)
for ax in axes[1]:
    ax.set_xlabel("step t")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The backward pass
#
# Take a loss on the outputs, L = Σ_t Σ_b w_{t,b} · out_{t,b} with fixed random
# weights w. Its gradient with respect to `out` is w itself, and `lstm.backward(grad_out)`
# backpropagates it through time. The result carries torch's names: `g.params` holds
# one array per weight, `g.input` is dL/dx.

# %%
w = rng.standard_normal(out.shape)
grads = lstm.backward(w)

x_torch = torch.from_numpy(x).requires_grad_()
loss = (torch_lstm(x_torch)[0] * torch.from_numpy(w)).sum()
loss.backward()

for name, param in torch_lstm.named_parameters():
    max_difference(f"dL/d{name} (rnnref vs torch)", grads.params[name], param.grad.numpy())
max_difference("dL/dx (rnnref vs torch)", grads.input, x_torch.grad.numpy())

# %% [markdown]
# ## The gradient through time
#
# After `backward`, the trace also holds `grad_states`, dL/dh_t at every step: the
# whole gradient reaching h_t, through its own output and through step t + 1. torch
# computes it too but never shows it; to see it in torch you would run the sequence
# with `torch.nn.LSTMCell`, one step per call, and keep each state's gradient. Let us
# do that once, to check rnnref.
#
# To watch how far a gradient travels, put the loss on the **last** step only: then
# everything dL/dh_t holds for t < T came back through the recurrence.

# %%
w_last = np.zeros_like(out)
w_last[-1] = rng.standard_normal((B, H))
lstm.backward(w_last)
grad_h = lstm.trace().grad_states  # (T, B, H)

cell = torch.nn.LSTMCell(F, H).double()
with torch.no_grad():
    for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, part).copy_(getattr(torch_lstm, f"{part}_l0"))
h_t, c_t = torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64)
states = []
for t in range(T):
    h_t, c_t = cell(torch.from_numpy(x[t]), (h_t, c_t))
    h_t.retain_grad()  # keep dL/dh_t, which autograd would otherwise free
    states.append(h_t)
(states[-1] * torch.from_numpy(w_last[-1])).sum().backward()
torch_grad_h = np.stack([s.grad.numpy() for s in states])
max_difference("dL/dh_t (rnnref vs torch LSTMCell)", grad_h, torch_grad_h)

# %% [markdown]
# The size of that gradient against t, on a log scale. Read it from right to left: the
# loss sits at the last step; each step back multiplies the gradient by the step's
# Jacobian, here mostly by the forget gates, so it shrinks roughly geometrically.
# Where the curve has fallen a thousand-fold, the weights stop learning anything from
# that far back: that distance is the layer's *horizon*, the quantity `diagnostics`
# measures on your own model.

# %%
norms = np.linalg.norm(grad_h, axis=2)  # (T, B): |dL/dh_t| per sequence
fig, ax = plt.subplots(figsize=(7, 4))
for b in range(B):
    ax.semilogy(np.arange(T), norms[:, b], marker=".", linewidth=1, label=f"sequence {b}")
fall = norms[-1].max() / 1000
ax.axhline(fall, color="red", linestyle="--", linewidth=1, label="1000-fold fall from the end")
ax.set_xlabel("step t")
ax.set_ylabel("|dL/dh_t|")
ax.set_title("Gradient through time, loss on the last step")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What next
#
# - The same `trace` works for `rnnref.GRU` (gates `r z n`), `rnnref.RNN` (no gates),
#   stacked layers (`trace(layer=1)`), the reverse direction of a bidirectional layer
#   (`trace(direction=1)`) and padded batches (`lstm(x, lengths=[...])`, with `trace.mask`).
# - `python -m diagnostics my_model.py:build --input "float32[32,100,16]"` replays every
#   recurrent layer of your own model through rnnref and measures this gradient for you.
