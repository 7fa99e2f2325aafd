"""The correctness gate refuses a wrong answer before it is timed."""

import dataclasses

import numpy as np
import pytest

from bench.backends import BACKENDS
from bench.cases import Case
from bench.check import CorrectnessError, compare, gate, verify
from bench.problem import make_problem

CASE = Case("lstm", "training", "torch", 3, 5, 4, 6, fill=0.6, layout="packed")


def _wrong(runner, scale=1.0, drop=None):
    """The same runner, but its outputs scaled (and one name dropped): a wrong backend."""
    outputs = runner.outputs

    def wrong_outputs():
        named = {k: v * scale for k, v in outputs().items()}
        if drop:
            del named[drop]
        return named

    return dataclasses.replace(runner, outputs=wrong_outputs)


def test_a_deliberately_wrong_backend_is_refused():
    problem = make_problem(CASE)
    runner = _wrong(BACKENDS["torch"].build(problem), scale=1.01)
    with pytest.raises(CorrectnessError, match="exceeds the fp32 bound"):
        verify(runner, problem, CASE.id)


def test_a_backend_that_forgets_a_gradient_is_refused():
    problem = make_problem(CASE)
    runner = _wrong(BACKENDS["torch"].build(problem), drop="grad.weight_hh_l0")
    with pytest.raises(CorrectnessError, match="missing"):
        verify(runner, problem, CASE.id)


def test_non_finite_output_is_refused():
    expected = {"out": np.ones((2, 2))}
    with pytest.raises(CorrectnessError, match="non-finite"):
        compare({"out": np.array([[1.0, np.nan], [1.0, 1.0]])}, expected)


def test_bounds_by_numerics():
    agreement = compare({"out": np.array([1.05, 2.0])}, {"out": np.array([1.0, 2.0])})
    assert agreement.rel_err == pytest.approx(0.025)
    assert agreement.max_abs_err == pytest.approx(0.05)
    gate(agreement, "int8", "x")  # 0.025 <= 0.1
    for numerics in ("fp32", "fp16"):
        with pytest.raises(CorrectnessError):
            gate(agreement, numerics, "x")


def test_a_gradient_zero_up_to_round_off_is_measured_against_its_kinds_scale():
    # a softmax's shift: d(loss)/d(bias) cancels to 1e-17 in float64, to float32's
    # round-off (1e-8) in the path; against itself that is an error of 1e9
    expected = {
        "out.0": np.array([2.0, -1.0]),
        "grad.weight": np.array([3.0, -4.0]),
        "grad.bias": np.array([1e-17, -2e-17]),
    }
    actual = {**expected, "grad.bias": np.array([2e-8, 5e-9])}
    agreement = compare(actual, expected)
    assert agreement.rel_err == pytest.approx(2e-8 / (0.1 * 4.0))
    gate(agreement, "fp32", "x")
    wrong = {**expected, "grad.bias": np.array([0.5, 0.0])}  # not round-off: refused
    with pytest.raises(CorrectnessError, match=r"grad\.bias"):
        gate(compare(wrong, expected), "fp32", "x")
    small = {**expected, "out.0": np.array([2.0, -1.001])}  # outputs keep their own scale
    assert compare(small, expected).rel_err == pytest.approx(0.001 / 2.0)
