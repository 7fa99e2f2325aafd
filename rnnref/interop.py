"""Conversion between rnnref layers and torch.nn.RNN/LSTM/GRU: the one module that imports torch."""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import torch
    from torch import nn
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        "rnnref.from_torch and to_torch need torch: pip install 'rnnref[torch]'", name="torch"
    ) from missing

from rnnref import layers
from rnnref.cells import CELL_TYPES, CellType
from rnnref.layers import RNNBase

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
NUMPY_DTYPES = {torch_dtype: numpy_dtype for numpy_dtype, torch_dtype in TORCH_DTYPES.items()}


def torch_cell_type(module: nn.Module) -> CellType | None:
    """The cell type (:data:`rnnref.CELL_TYPES`) a torch.nn layer or cell computes (an
    nn.LSTM, nn.GRUCell, nn.RNN with its nonlinearity, or a subclass), or None."""
    for cell in CELL_TYPES.values():
        names = (name for name in (cell.torch_layer, cell.torch_cell) if name is not None)
        classes = tuple(getattr(nn, name) for name in names)
        if (
            classes
            and isinstance(module, classes)
            and getattr(module, "nonlinearity", None) == cell.nonlinearity
        ):
            return cell
    return None


def from_torch(module: nn.RNNBase, dtype: Any = None) -> RNNBase:
    """An rnnref layer with the same configuration and weights as ``module``.

    ``dtype`` None keeps the module's dtype (float32 or float64; another, such as
    bfloat16, is refused); a dtype given converts the weights to it.
    """
    cell = torch_cell_type(module)
    if cell is None or cell.reference_layer is None or not isinstance(module, nn.RNNBase):
        raise ValueError(
            f"module: expected a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}"
        )
    state = {name: value.detach().cpu() for name, value in module.state_dict().items()}
    if dtype is None:
        module_dtype = next(iter(state.values())).dtype
        if module_dtype not in NUMPY_DTYPES:
            raise ValueError(
                f"module: its parameters are {module_dtype} and rnnref computes in float32 "
                "or float64: pass dtype=np.float32 or np.float64 to convert"
            )
        dtype = NUMPY_DTYPES[module_dtype]
    common = {
        "num_layers": module.num_layers,
        "bias": module.bias,
        "batch_first": module.batch_first,
        "dropout": module.dropout,
        "bidirectional": module.bidirectional,
        "dtype": dtype,
    }
    ours = getattr(layers, cell.reference_layer)
    extra = {name: getattr(module, name) for name in ours.cell_arguments}
    model = ours(module.input_size, module.hidden_size, **extra, **common)
    model.load_state_dict({name: value.double().numpy() for name, value in state.items()})
    model.training = module.training
    return model


def to_torch(model: RNNBase) -> nn.RNNBase:
    """A torch module on the CPU with ``model``'s configuration, dtype and weights."""
    common = {
        "num_layers": model.num_layers,
        "bias": model.bias,
        "batch_first": model.batch_first,
        "dropout": model.dropout,
        "bidirectional": model.bidirectional,
        "dtype": TORCH_DTYPES[model.dtype],
    }
    theirs = getattr(nn, model.cell_type.torch_layer)
    module = theirs(model.input_size, model.hidden_size, **model.cell_kwargs(), **common)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in model.params.items()})
    module.train(model.training)
    return module
