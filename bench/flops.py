"""The one FLOP convention of the benchmark: useful multiply-adds of the gate GEMMs.

For every valid token (step t < length of its sequence), every layer and every
direction, a recurrent layer multiplies its input (size ``I_l``) and its previous
hidden state (size ``H``) by ``G * H`` gate rows, ``G`` = 1 (RNN), 3 (GRU), 4 (LSTM),
as the cell's record says (``rnnref.CellType.flops_per_step``):

    forward FLOPs per token, layer, direction = 2 * G * H * (I_l + H)

with ``I_0 = input_size`` and ``I_l = D * H`` for deeper layers (``D`` = 2 when
bidirectional). Counted as 2 FLOPs per multiply-add. Not counted: bias adds,
activations and other elementwise work (O(H) per token against O(H^2)), and any
work spent on padding past a sequence's length (it is not useful).

Training (forward + backward) counts 3x the forward: backpropagation does two GEMMs
of the forward's size per forward GEMM, one for the input/state gradients and one
for the weight gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnref.cells import CELL_TYPES, cell_type

if TYPE_CHECKING:
    from bench.cases import Case

TRAINING_FACTOR = 3


def convention() -> str:
    """The convention in words, as a run file records it (G of every registered cell)."""
    gates = ", ".join(f"{cell.gate_blocks} {cell.name}" for cell in CELL_TYPES.values())
    return (
        "bench.flops.useful_flops: 2*G*H*(I_l+H) per valid token, layer and "
        f"direction (G = {gates}); training = {TRAINING_FACTOR}x forward"
    )


def useful_flops(
    cell: str,
    mode: str,
    valid_tokens: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> int:
    """Useful FLOPs of one call over ``valid_tokens`` (sum of the sequence lengths).

    ``mode`` is ``"inference"`` (forward only) or ``"training"`` (forward + backward).
    """
    record = cell_type(cell)
    if mode not in ("inference", "training"):
        raise ValueError(f"unknown mode {mode!r}; expected 'inference' or 'training'")
    directions = 2 if bidirectional else 1
    # Layer 0 reads input_size features, each later layer directions * hidden_size
    # (closed form: a loop over the layers would hang on an absurd layer count).
    first = record.flops_per_step(input_size, hidden_size)
    later = (num_layers - 1) * record.flops_per_step(directions * hidden_size, hidden_size)
    per_token = directions * (first + later) if num_layers > 0 else 0
    forward = per_token * valid_tokens
    return forward * TRAINING_FACTOR if mode == "training" else forward


def case_flops(case: Case, valid_tokens: int) -> int:
    """:func:`useful_flops` of one call of ``case`` over ``valid_tokens`` tokens."""
    return useful_flops(
        case.cell,
        case.mode,
        valid_tokens,
        case.input_size,
        case.hidden_size,
        case.num_layers,
        case.bidirectional,
    )
