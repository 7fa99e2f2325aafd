"""The recurrent layer that really ran: built from the weights a recurrent op was given.

A layer's op (``torch._VF.lstm`` and its siblings) receives the weights as a
list of tensors. Usually they are the module's own Parameters; under a weight
drop (AWD-LSTM's ``WeightDrop``, fastai's ``WeightDropout``) ``weight_hh_l0``
is a plain tensor computed from another Parameter (``weight_hh_l0_raw``), and
a functional call has no module at all. The replay then needs a layer with
the weights that ran (:func:`layer_as_run`), the stepped probes a cell per
layer (:func:`layer_cell`), and the weight-drop check the Parameters each
weight comes from (:func:`weight_sources`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnref.cells import of_torch_op
from rnnref.interop import torch_cell_type

MAX_GRAPH_NODES = 256
"""Autograd nodes :func:`weight_sources` visits at most (a weight drop is a few ops)."""


def own_weights(module: nn.RNNBase | None, weights: list[torch.Tensor]) -> bool:
    """Whether ``weights`` (the op's list) are exactly ``module``'s own Parameters, and its
    only ones (a weight drop that registers ``weight_hh_l0_raw`` on the module is not)."""
    if module is None or set(module._parameters) != set(module._flat_weights_names):
        return False
    return all(
        w is module._parameters.get(name)
        for name, w in zip(module._flat_weights_names, weights, strict=True)
    )


def layer_as_run(
    op: str,
    weights: list[torch.Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> nn.RNNBase:
    """A standalone nn.LSTM/GRU/RNN with the configuration the op ran with and a detached
    copy of ``weights``, on their device and in their dtype (sizes read from the weights:
    weight_ih_l0 is (G*H, I), weight_hh_l0 (G*H, P), P the projection size or H)."""
    w_ih, w_hh = weights[0], weights[1]
    record = of_torch_op(op)
    hidden = w_ih.shape[0] // record.gate_blocks
    extra: dict[str, Any] = record.torch_kwargs()
    cls = getattr(nn, record.torch_layer)
    if cls is nn.LSTM:  # torch's one layer with a projection
        extra["proj_size"] = w_hh.shape[1] if w_hh.shape[1] != hidden else 0
    layer = cls(
        w_ih.shape[1],
        hidden,
        num_layers,
        bias=has_biases,
        batch_first=batch_first,
        bidirectional=bidirectional,
        device="meta",  # no initialisation drawn from the user's random stream
        **extra,
    ).to_empty(device=w_ih.device)
    layer.to(w_ih.dtype)
    layer.dropout = float(dropout)
    with torch.no_grad():
        for name, w in zip(layer._flat_weights_names, weights, strict=True):
            getattr(layer, name).copy_(w)
    return layer.train(train)


def layer_cell(layer: nn.RNNBase, index: int) -> nn.RNNCellBase:
    """The nn.LSTMCell/GRUCell/RNNCell computing layer ``index`` (forward direction) of
    ``layer`` (no projection), holding a detached copy of that layer's weights."""
    record = torch_cell_type(layer)
    cls, extra = getattr(nn, record.torch_cell), record.torch_kwargs()
    suffix = f"_l{index}"
    w_ih = getattr(layer, "weight_ih" + suffix)
    cell = cls(w_ih.shape[1], layer.hidden_size, bias=layer.bias, device="meta", **extra).to_empty(
        device=w_ih.device
    )
    cell.to(w_ih.dtype)
    with torch.no_grad():
        for name, value in cell.named_parameters():
            value.copy_(getattr(layer, name + suffix))
    return cell


def cell_as_run(op: str, weights: tuple) -> nn.RNNCellBase:
    """An nn.LSTMCell/GRUCell/RNNCell holding a detached copy of the weights a cell op got:
    ``(w_ih, w_hh, b_ih, b_hh)``, the biases None for a cell without them."""
    w_ih, w_hh, b_ih, _ = weights
    record = of_torch_op(op)
    cls, extra = getattr(nn, record.torch_cell), record.torch_kwargs()
    cell = cls(
        w_ih.shape[1], w_hh.shape[1], bias=b_ih is not None, device="meta", **extra
    ).to_empty(device=w_ih.device)
    cell.to(w_ih.dtype)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    with torch.no_grad():
        for name, w in zip(names, weights, strict=True):
            if w is not None:
                getattr(cell, name).copy_(w)
    return cell


def _leaf_parameters(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that ``tensor`` is computed from (its graph's
    AccumulateGrad nodes), at most :data:`MAX_GRAPH_NODES` nodes away."""
    if tensor.grad_fn is None:
        return [tensor] if tensor.requires_grad else []
    leaves, seen, stack = [], set(), [tensor.grad_fn]
    while stack and len(seen) < MAX_GRAPH_NODES:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves.append(variable)
        else:
            stack.extend(child for child, _ in node.next_functions)
    return leaves


def weight_sources(
    module_name: str,
    weight_names: list[str],
    weights: list[torch.Tensor],
    parameters: dict[str, torch.Tensor],
) -> list[dict[str, Any]]:
    """Where each weight that is not one of the model's Parameters comes from, for the
    weight-drop check. ``parameters`` are the model's before its forward: a Parameter made
    in the forward (``nn.Parameter(dropped)`` set on the layer, as weight drops written for
    newer torch versions do) is a new leaf, cut from the one it was computed from.

    Returns ``[{"weight", "parameters", "connected"}]``: the model's Parameters (dotted
    names, from ``parameters``, name -> Parameter) the weight is computed from through the
    autograd graph (``connected`` True), or, when it is cut from every Parameter (computed
    from ``.data`` or a detached copy), those named after it in the module or an ancestor
    (``weight_hh_l0_raw`` for ``weight_hh_l0``; ``connected`` False).
    """
    names = {id(p): name for name, p in parameters.items()}
    found = []
    for weight_name, weight in zip(weight_names, weights, strict=True):
        if id(weight) in names:
            continue
        leaves = [names[id(leaf)] for leaf in _leaf_parameters(weight) if id(leaf) in names]
        if leaves:
            found.append({"weight": weight_name, "parameters": leaves, "connected": True})
            continue
        owners = module_name.split(".")
        ancestors = {".".join(owners[:depth]) for depth in range(len(owners) + 1)}
        named = [
            name
            for name in parameters
            if name.rpartition(".")[2].startswith(weight_name + "_")
            and name.rpartition(".")[0] in ancestors
        ]
        found.append({"weight": weight_name, "parameters": named, "connected": False})
    return found
