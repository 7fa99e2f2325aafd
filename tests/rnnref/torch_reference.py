"""Run a torch recurrent layer the way rnnref is specified to behave, with autograd gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TORCH_CLASSES = {
    "rnn_tanh": nn.RNN,
    "rnn_relu": nn.RNN,
    "lstm": nn.LSTM,
    "lstm_proj": nn.LSTM,
    "gru": nn.GRU,
}


def build_torch(
    cell: str, input_size: int, hidden_size: int, dtype: torch.dtype, **kwargs
) -> nn.RNNBase:
    """A torch layer (seed torch first) for one of the five cell names; lstm_proj
    projects to hidden_size - 2, at least 1."""
    if cell.startswith("rnn_"):
        kwargs["nonlinearity"] = cell[4:]
    if cell == "lstm_proj":
        kwargs["proj_size"] = max(hidden_size - 2, 1)
    return TORCH_CLASSES[cell](input_size, hidden_size, dtype=dtype, **kwargs)


def torch_forward_backward(module, x, hx, lengths, grad_out, grad_hn):
    """Forward (packed when lengths is given) and backward through a loss of fixed weights.

    Returns (out, h_n, parameter grads by name, input grad, hx grad), all numpy;
    out is padded with zeros to the full length of x.
    """
    x_t = torch.tensor(x, requires_grad=True)
    hx_t = None
    if hx is not None:
        hx_t = (
            tuple(torch.tensor(h, requires_grad=True) for h in hx)
            if isinstance(hx, tuple)
            else torch.tensor(hx, requires_grad=True)
        )
    inputs = x_t
    if lengths is not None:
        inputs = pack_padded_sequence(
            x_t, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=False
        )
    out, h_n = module(inputs, hx_t)
    if lengths is not None:
        steps = x.shape[1] if module.batch_first else x.shape[0]
        out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=steps)
    states = h_n if isinstance(h_n, tuple) else (h_n,)
    grads = grad_hn if isinstance(grad_hn, tuple) else (grad_hn,)
    loss = (out * torch.tensor(grad_out)).sum() + sum(
        (s * torch.tensor(g)).sum() for s, g in zip(states, grads, strict=True)
    )
    module.zero_grad()
    loss.backward()
    params = {name: p.grad.numpy() for name, p in module.named_parameters()}
    grad_hx = None
    if hx is not None:
        grad_hx = (
            tuple(h.grad.numpy() for h in hx_t) if isinstance(hx_t, tuple) else hx_t.grad.numpy()
        )
    h_np = (
        tuple(s.detach().numpy() for s in states)
        if isinstance(h_n, tuple)
        else h_n.detach().numpy()
    )
    return out.detach().numpy(), h_np, params, x_t.grad.numpy(), grad_hx


def random_like_state(rng: np.random.Generator, state, dtype):
    if isinstance(state, tuple):
        return tuple(rng.standard_normal(s.shape).astype(dtype) for s in state)
    return rng.standard_normal(state.shape).astype(dtype)
