"""The kind of a probed recurrent module: ``rnn_tanh``, ``rnn_relu``, ``lstm`` or ``gru``.

The probes and rules key on it (gate blocks, activations, dead units); a fused layer is
probed through its rnnref replay, a cell stepped in a loop through the torch cell itself.
"""

from __future__ import annotations

from torch import nn

import rnnref


def layer_kind(model: rnnref.RNNBase) -> str:
    """The kind of a replayed layer (an rnnref RNN, LSTM or GRU)."""
    return f"rnn_{model.nonlinearity}" if model.cell == "rnn" else model.cell


def cell_kind(cell: nn.RNNCellBase) -> str:
    """The kind of a torch nn.RNNCell, nn.LSTMCell or nn.GRUCell."""
    if isinstance(cell, nn.LSTMCell):
        return "lstm"
    if isinstance(cell, nn.GRUCell):
        return "gru"
    return f"rnn_{cell.nonlinearity}"
