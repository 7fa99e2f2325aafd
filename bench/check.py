"""The correctness gate: every row is compared with the float64 reference before it is timed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.problem import Problem
from bench.workload import Runner

BOUNDS = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 0.3, "int8": 0.1}
"""Largest relative error (:func:`compare`: max |a - e| / max |e| per output) a row may have,
by the numerics its backend computes in. TF32 (cuDNN on Ampere and newer, when
allowed) keeps fp16's 10-bit mantissa, so it gets fp16's bound. bfloat16 keeps 7 bits
(rounding error 2**-8 per operation, and every activation and gradient is rounded): on
the quick preset (2-core Intel Xeon with AMX) its rows erred by 5e-3 to 3e-2, except the
ReLU RNN's training gradients, whose unbounded states over 100 steps gave 0.12-0.22
(weight_hh, input); 0.3 reports those as the lossy rows they are, while a wrong answer
(a missed cast, a wrong gate) errs by order 1."""


class CorrectnessError(AssertionError):
    """A backend's answer is wrong (beyond its bound) or incomplete: the row is not timed."""


@dataclass(frozen=True)
class Agreement:
    """How close a backend came to the reference: worst tensor by relative error."""

    rel_err: float
    max_abs_err: float
    worst: str  # name of the output with the largest relative error


ZERO_FLOOR = 0.1
"""A tensor's error is measured against its own largest reference value, but never
against less than this fraction of the largest reference value of its kind (outputs, or
gradients), as torch.testing's ``atol`` bounds the error of values near zero: a gradient
that is zero up to round-off (a softmax's shift, a cancelling sum) has a float64
reference of order 1e-17, and a float32 path's round-off of order eps32 x the other
gradients, so its error relative to itself is meaningless (1e9). Round-off of such a
sum in a path of machine epsilon ``eps`` is about ``c * eps`` times the terms summed:
0.1 keeps it within every bound of :data:`BOUNDS` up to c = 7 (bf16's 0.3 at eps 2**-8,
the tightest), while a wrong answer (order 1 everywhere) still fails."""


def compare(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> Agreement:
    """Relative and absolute error of ``actual`` against ``expected``, over all their outputs.

    Both map names (``out``, ``h_n``, ``grad.weight_hh_l0``, ...) to arrays of equal shape;
    a missing or extra name, or a shape mismatch, raises :class:`CorrectnessError`. Each
    output's relative error is max |a - e| / max(max |e|, :data:`ZERO_FLOOR` x the largest
    |e| of its kind: outputs, or gradients ``grad.*``); the worst one is reported.
    """
    if set(actual) != set(expected):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        raise CorrectnessError(
            f"outputs differ from the reference's: missing {missing}, extra {extra}"
        )
    largest = {True: 0.0, False: 0.0}  # by kind: is it a gradient?
    for name, reference in expected.items():
        kind = name.startswith("grad.")
        largest[kind] = max(largest[kind], float(np.max(np.abs(reference), initial=0.0)))
    rel_err, max_abs_err, worst = 0.0, 0.0, ""
    for name, reference in expected.items():
        value = np.asarray(actual[name], dtype=np.float64)
        if value.shape != reference.shape:
            raise CorrectnessError(f"{name}: shape {value.shape}, reference {reference.shape}")
        if not np.all(np.isfinite(value)):
            raise CorrectnessError(f"{name}: non-finite values")
        error = float(np.max(np.abs(value - reference), initial=0.0))
        own = float(np.max(np.abs(reference), initial=0.0))
        scale = max(own, ZERO_FLOOR * largest[name.startswith("grad.")])
        rel = error / scale if scale > 0 else error
        if rel >= rel_err:
            rel_err, worst = rel, name
        max_abs_err = max(max_abs_err, error)
    return Agreement(float(rel_err), max_abs_err, worst)


def gate(agreement: Agreement, numerics: str, what: str) -> None:
    """Raise :class:`CorrectnessError` when ``agreement`` is outside the bound of ``numerics``."""
    bound = BOUNDS[numerics]
    if not agreement.rel_err <= bound:
        raise CorrectnessError(
            f"{what}: relative error {agreement.rel_err:.3g} in {agreement.worst} exceeds the "
            f"{numerics} bound {bound:g}; refusing to time a wrong answer"
        )


def verify(runner: Runner, problem: Problem, case_id: str) -> Agreement:
    """Run ``runner`` once on ``problem``, compare with the reference, and gate the result."""
    runner.step()
    agreement = compare(runner.outputs(), problem.reference)
    gate(agreement, runner.numerics, f"{case_id} ({runner.module})")
    return agreement
