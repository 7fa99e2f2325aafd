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

from rnnref.layers import GRU, LSTM, RNN, RNNBase

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
NUMPY_DTYPES = {torch_dtype: numpy_dtype for numpy_dtype, torch_dtype in TORCH_DTYPES.items()}
CLASSES: tuple[tuple[type[RNNBase], type[nn.RNNBase]], ...] = (
    (RNN, nn.RNN),
    (LSTM, nn.LSTM),
    (GRU, nn.GRU),
)
"""Each rnnref layer class and the torch class it equals."""


def from_torch(module: nn.RNNBase, dtype: Any = None) -> RNNBase:
    """An rnnref layer with the same configuration and weights as ``module``.

    ``dtype`` None keeps the module's dtype (float32 or float64; another, such as
    bfloat16, is refused); a dtype given converts the weights to it.
    """
    if not isinstance(module, nn.RNN | nn.LSTM | nn.GRU):
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
    ours = next(ours for ours, theirs in CLASSES if isinstance(module, theirs))
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
    theirs = next(theirs for ours, theirs in CLASSES if isinstance(model, ours))
    module = theirs(model.input_size, model.hidden_size, **model.cell_kwargs(), **common)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in model.params.items()})
    module.train(model.training)
    return module
