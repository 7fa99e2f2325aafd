"""What a recurrent cell is, declared once: one :class:`CellType` per cell, in :data:`CELL_TYPES`.

Everything that differs between a tanh RNN, a ReLU RNN, an LSTM and a GRU lives
here: the gate blocks of W_ih and W_hh in torch's order with the activation each
feeds, the step equations (:mod:`rnnref.steps`), the torch classes that compute
the same thing (by name: rnnref does not import torch; a consumer that has torch
resolves ``getattr(torch.nn, name)``), the FLOPs of a step, and what the
diagnostics know of a default-initialised layer of the kind. The benchmark, the
diagnostics and rnnref's own layers read these records instead of tables of
their own, so a new cell is one more record (plus, for rnnref's layers and
torch's classes, the code that computes it).

    >>> from rnnref import CELL_TYPES
    >>> CELL_TYPES["gru"].gate_names, CELL_TYPES["gru"].torch_layer
    (('r', 'z', 'n'), 'GRU')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnnref import steps


@dataclass(frozen=True)
class Block:
    """One block of H rows of W_ih and W_hh and the activation it feeds.

    ``gate`` is False where the block's activation is the new state itself (a plain
    RNN's single block): it is recorded as the state, not as a gate.
    """

    name: str
    activation: str  # "sigmoid", "tanh" or "relu"
    gate: bool = True


@dataclass(frozen=True)
class CellType:
    """One kind of recurrent cell.

    ``name`` is the kind as case ids, probe records and findings spell it.
    ``blocks`` are the row blocks of W_ih and W_hh (G*H rows) in torch's order.
    ``step(ns, xp, hp, h, c)`` is one time step (:mod:`rnnref.steps`).
    ``torch_layer`` / ``torch_cell`` name the ``torch.nn`` layer (``LSTM``) and cell
    (``LSTMCell``) classes that compute it, None where torch has none;
    ``reference_layer`` names rnnref's layer class (:mod:`rnnref.layers`), None where
    rnnref has none. ``nonlinearity`` is the ``nonlinearity=`` argument of those
    classes (plain RNNs), else None.
    ``cell_state`` says whether the cell carries c_t beside h_t (LSTM).
    ``state_activation`` is what bounds the state units: "tanh" where h_t is a tanh
    value or a mix of tanh values and h_{t-1} (saturation of the units is
    measurable), "relu" where units can die, None (an LSTM's h_t = o tanh(c_t)).
    ``forget_gate`` names the gate that keeps the cell state (LSTM's f), or None.
    ``healthy_horizon`` is the band (low, high) of the gradient horizon (steps
    until the gradient from the last step falls 1000-fold) of a default-initialised
    layer: torch's init, N(0, 1) inputs, batch 8, measured over hidden 16-256, input
    8-64 and 35-200 steps, in diagnostics/examples (the 2-layer tanh RNN on 28
    MNIST-like rows: 12) and on cell loops (nn.LSTMCell: 12);
    ``tests/diagnostics/test_rules.py::test_default_initialised_layers_keep_the_healthy_horizon``
    measures it again. None where it was never measured.
    """

    name: str
    blocks: tuple[Block, ...]
    step: Callable[..., steps.Step]
    torch_layer: str | None
    torch_cell: str | None
    reference_layer: str | None
    nonlinearity: str | None = None
    torch_op: str | None = None
    cell_state: bool = False
    state_activation: str | None = None
    forget_gate: str | None = None
    healthy_horizon: tuple[int, int] | None = None

    @property
    def gate_blocks(self) -> int:
        """G: how many H-row blocks W_ih and W_hh stack."""
        return len(self.blocks)

    @property
    def gate_names(self) -> tuple[str, ...]:
        """The gates, in torch's order (empty for a plain RNN)."""
        return tuple(block.name for block in self.blocks if block.gate)

    def gates(self, step: steps.Step) -> dict[str, Any]:
        """The gate activations of a :class:`~rnnref.steps.Step`, by name."""
        return {
            block.name: value
            for block, value in zip(self.blocks, step.blocks, strict=True)
            if block.gate
        }

    def torch_kwargs(self) -> dict[str, str]:
        """The arguments torch's classes need for this kind, e.g. ``{"nonlinearity": "relu"}``."""
        return {} if self.nonlinearity is None else {"nonlinearity": self.nonlinearity}

    def flops_per_gate(self, input_size: int, hidden_size: int) -> int:
        """FLOPs of one gate block's GEMMs for one token: 2 * H * (I + H) (a multiply-add
        is 2 FLOPs; biases and activations, O(H), are not counted)."""
        return 2 * hidden_size * (input_size + hidden_size)

    def flops_per_step(self, input_size: int, hidden_size: int) -> int:
        """FLOPs of one step for one token: 2 * G * H * (I + H)."""
        return self.gate_blocks * self.flops_per_gate(input_size, hidden_size)


_SIGMOID, _TANH = "sigmoid", "tanh"

CELL_TYPES: dict[str, CellType] = {
    cell.name: cell
    for cell in (
        CellType(
            name="rnn_tanh",
            blocks=(Block("h", _TANH, gate=False),),
            step=steps.rnn_tanh,
            torch_layer="RNN",
            reference_layer="RNN",
            torch_cell="RNNCell",
            nonlinearity="tanh",
            torch_op="rnn_tanh",
            state_activation="tanh",
            healthy_horizon=(10, 12),
        ),
        CellType(
            name="rnn_relu",
            blocks=(Block("h", "relu", gate=False),),
            step=steps.rnn_relu,
            torch_layer="RNN",
            reference_layer="RNN",
            torch_cell="RNNCell",
            nonlinearity="relu",
            torch_op="rnn_relu",
            state_activation="relu",
            healthy_horizon=(8, 9),
        ),
        CellType(
            name="lstm",
            blocks=(
                Block("i", _SIGMOID),
                Block("f", _SIGMOID),
                Block("g", _TANH),
                Block("o", _SIGMOID),
            ),
            step=steps.lstm,
            torch_layer="LSTM",
            reference_layer="LSTM",
            torch_cell="LSTMCell",
            torch_op="lstm",
            cell_state=True,
            forget_gate="f",
            healthy_horizon=(10, 12),
        ),
        CellType(
            name="gru",
            blocks=(Block("r", _SIGMOID), Block("z", _SIGMOID), Block("n", _TANH)),
            step=steps.gru,
            torch_layer="GRU",
            reference_layer="GRU",
            torch_cell="GRUCell",
            torch_op="gru",
            state_activation="tanh",
            healthy_horizon=(14, 15),
        ),
    )
}
"""Every cell type by name, in the matrix's order. A consumer reads it when it runs (not
at import), so a cell registered here, by a plugin or by a test, reaches every reader."""


def cell_type(name: str) -> CellType:
    """The registered cell type ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return CELL_TYPES[name]
    except KeyError:
        raise ValueError(
            f"unknown cell {name!r}; expected one of {', '.join(CELL_TYPES)}"
        ) from None


def cell_names() -> tuple[str, ...]:
    """The names of every registered cell type, in registration order."""
    return tuple(CELL_TYPES)


def of_torch_op(op: str) -> CellType:
    """The cell type whose torch layer op (``lstm``) or cell op (``lstm_cell``) is ``op``."""
    for cell in CELL_TYPES.values():
        if cell.torch_op is not None and op in (cell.torch_op, cell.torch_op + "_cell"):
            return cell
    raise ValueError(f"no cell type runs as torch op {op!r}")
