"""The seeded problem behind a case (layer, inputs, lengths) and its float64 reference answer.

Every backend of a case gets the same :class:`Problem` (same weights, inputs, lengths,
output gradient); the reference answer comes from rnnref in float64 on those weights.
Arrays are time-major: x (T, B, I), lengths (B,), grad_out (T, B, D*H).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

import rnnref
from bench.cases import Case, draw_lengths, seed_of
from bench.torchmods import make_layer
from rnnref.layers import State

Outputs = dict[str, np.ndarray]
"""Named results of one call: ``out``, ``h_n`` (``c_n`` for LSTM) and, in training,
``grad.input`` and ``grad.<torch parameter name>``."""


def named_outputs(
    results: Sequence[np.ndarray],
    grad_input: np.ndarray | None = None,
    grad_params: Mapping[str, np.ndarray] | None = None,
) -> Outputs:
    """A layer's results [out, h_n(, c_n)] and, in training, dL/dx and dL/d(each parameter)
    as float64 :data:`Outputs`: out (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H) for an
    LSTM; ``grad.input`` like x, ``grad.<torch parameter name>`` like the parameter."""
    named = dict(zip(("out", "h_n", "c_n"), results, strict=False))
    if grad_input is not None:
        named["grad.input"] = grad_input
    named.update({f"grad.{name}": grad for name, grad in (grad_params or {}).items()})
    return {name: np.asarray(value, dtype=np.float64) for name, value in named.items()}


def rnnref_outputs(
    forward: tuple[np.ndarray, State], grads: rnnref.Gradients | None = None
) -> Outputs:
    """:func:`named_outputs` of what an rnnref model returns, ``(out, h_n)`` with h_n a pair
    ``(h_n, c_n)`` for an LSTM, and of its ``backward``'s gradients."""
    out, h_n = forward
    results = [out, *h_n] if isinstance(h_n, tuple) else [out, h_n]
    if grads is None:
        return named_outputs(results)
    return named_outputs(results, grads.input, grads.params)


@dataclass
class Problem:
    """Weights, inputs and lengths of one case (shared by every backend of that case)."""

    case: Case
    layer: torch.nn.RNNBase = field(repr=False)
    x: np.ndarray = field(repr=False)  # (T, B, I) float32, zero past each length
    lengths: np.ndarray = field(repr=False)  # (B,) int64, max == T
    grad_out: np.ndarray = field(repr=False)  # (T, B, D*H) float32, zero past each length

    @property
    def packed(self) -> bool:
        return self.case.layout == "packed"

    @property
    def run_lengths(self) -> np.ndarray | None:
        """Lengths as the backend gets them: None in padded layout (it runs every step)."""
        return self.lengths if self.packed else None

    def fresh_layer(self) -> torch.nn.RNNBase:
        """A private copy of the float32 CPU layer (backends may move, train or quantize it)."""
        return copy.deepcopy(self.layer)

    @cached_property
    def reference(self) -> Outputs:
        """The float64 rnnref answer for this case's mode and layout (computed once)."""
        model = rnnref.from_torch(self.layer, dtype=np.float64)
        forward = model(self.x.astype(np.float64), lengths=self.run_lengths)
        grads = None
        if self.case.mode == "training":
            grads = model.backward(self.grad_out.astype(np.float64))
        return rnnref_outputs(forward, grads)


def make_problem(case: Case) -> Problem:
    """The seeded problem of ``case``: equal for all cases with the same ``problem_id``."""
    seed = seed_of(case)
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(case.batch, case.seq_len, case.fill, seed)
    valid = np.arange(case.seq_len)[:, None] < lengths[None, :]  # (T, B)
    x = rng.standard_normal((case.seq_len, case.batch, case.input_size), dtype=np.float32)
    x *= valid[:, :, None]
    directions = 2 if case.bidirectional else 1
    grad_shape = (case.seq_len, case.batch, directions * case.hidden_size)
    grad_out = rng.standard_normal(grad_shape, dtype=np.float32) * valid[:, :, None]
    return Problem(case, make_layer(case, seed), x, lengths, grad_out)
