"""The cost measurement runs end to end (its numbers come from ``python -m diagnostics.cost``)."""

from diagnostics.cost import measure


def test_cost_measurement_on_a_tiny_lstm():
    result = measure(rounds=1, batch=2, steps=5, size=8)
    assert result["shape"] == "LSTM 2 layers, hidden 8, 5 steps, batch 2"
    assert result["forward_backward_s"] > 0 and result["diagnosis_s"] > 0
    assert result["ratio"] == result["diagnosis_s"] / result["forward_backward_s"]
    assert result["outputs_s"] > 0
