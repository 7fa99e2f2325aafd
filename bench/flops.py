"""The one FLOP convention of the benchmark: useful multiply-adds of the gate GEMMs.

For every valid token (step t < length of its sequence), every layer and every
direction, a recurrent layer multiplies its input (size ``I_l``) and its previous
hidden state (size ``H``) by ``G * H`` gate rows, ``G`` = 1 (RNN), 3 (GRU), 4 (LSTM):

    forward FLOPs per token, layer, direction = 2 * G * H * (I_l + H)

with ``I_0 = input_size`` and ``I_l = D * H`` for deeper layers (``D`` = 2 when
bidirectional). Counted as 2 FLOPs per multiply-add. Not counted: bias adds,
activations and other elementwise work (O(H) per token against O(H^2)), and any
work spent on padding past a sequence's length (it is not useful).

Training (forward + backward) counts 3x the forward: backpropagation does two GEMMs
of the forward's size per forward GEMM, one for the input/state gradients and one
for the weight gradients.
"""

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
TRAINING_FACTOR = 3


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
    if cell not in GATES:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(GATES)}")
    if mode not in ("inference", "training"):
        raise ValueError(f"unknown mode {mode!r}; expected 'inference' or 'training'")
    gates = GATES[cell]
    directions = 2 if bidirectional else 1
    per_token = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * hidden_size
        per_token += directions * 2 * gates * hidden_size * (layer_input + hidden_size)
    forward = per_token * valid_tokens
    return forward * TRAINING_FACTOR if mode == "training" else forward
