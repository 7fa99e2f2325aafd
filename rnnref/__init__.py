"""rnnref: torch.nn.RNN, LSTM and GRU in NumPy, forward and backpropagation through time.

import numpy as np, rnnref
m = rnnref.LSTM(16, 32, num_layers=2, bidirectional=True, seed=0)
out, (h_n, c_n) = m(np.ones((50, 4, 16), np.float32))
g = m.backward(np.ones_like(out))   # g.params["weight_hh_l0"], g.input, g.hx

What a cell is (gate blocks and activations, the step equations, torch's classes by
name, FLOPs per step) is declared once in ``rnnref.CELL_TYPES`` (:mod:`rnnref.cells`):
``rnnref.cell_type("lstm").gate_names`` is ``("i", "f", "g", "o")``.
"""

import importlib.metadata
from typing import Any

from rnnref.cells import CELL_TYPES, Block, CellType, cell_names, cell_type, of_torch_op
from rnnref.layers import GRU, LSTM, RNN, Gradients, LayerTrace, RNNBase, param_suffix
from rnnref.numerics import gradcheck, relative_error
from rnnref.steps import Step

try:
    __version__ = importlib.metadata.version("rnnref")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def from_torch(module: Any, dtype: Any = None) -> RNNBase:
    """An rnnref RNN, LSTM or GRU matching a torch.nn one (imports torch)."""
    return RNNBase.from_torch(module, dtype)


__all__ = [
    "CELL_TYPES",
    "GRU",
    "LSTM",
    "RNN",
    "Block",
    "CellType",
    "Gradients",
    "LayerTrace",
    "RNNBase",
    "Step",
    "__version__",
    "cell_names",
    "cell_type",
    "from_torch",
    "gradcheck",
    "of_torch_op",
    "param_suffix",
    "relative_error",
]
