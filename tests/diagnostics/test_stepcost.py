"""The runtime settings a training step runs with, read without changing them."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from diagnostics.capture import Capture
from diagnostics.probes import stepcost


def test_flush_flag_is_read_from_what_the_arithmetic_does():
    assert not stepcost.flushes_subnormals()
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal floats")
    try:
        assert stepcost.flushes_subnormals()
    finally:
        torch.set_flush_denormal(False)
    assert not stepcost.flushes_subnormals()


def test_runtime_settings_are_torchs_own():
    with torch.autograd.set_detect_anomaly(True):
        settings = stepcost.runtime_settings()
    assert settings == {
        "threads": torch.get_num_threads(),
        "cores": stepcost.usable_cores(),
        "anomaly_detection": True,
        "flush_denormal": False,
    }
    assert not stepcost.runtime_settings()["anomaly_detection"]


def test_the_cure_is_timed_on_a_packed_call_without_touching_the_users_layer():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.lstm = lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    lengths = torch.tensor([6, 2, 5])
    with Capture(model) as cap:
        packed = pack_padded_sequence(torch.randn(6, 3, 3), lengths, enforce_sorted=False)
        out, _ = pad_packed_sequence(lstm(packed)[0])
        out.sum().backward()
        cap.finish(0, graph_kept=False)
    grads = {name: p.grad.clone() for name, p in lstm.named_parameters()}
    state = torch.random.get_rng_state()
    cure = stepcost.flush_denormal_speedup(cap.layers["lstm"])
    if cure is None:
        pytest.skip("this CPU cannot flush subnormal floats")
    assert cure["step_s"] > 0 and cure["flushed_s"] > 0
    assert cure["speedup"] == cure["step_s"] / cure["flushed_s"]
    assert cure["threads"] == torch.get_num_threads()
    assert all(torch.equal(p.grad, grads[name]) for name, p in lstm.named_parameters())
    assert torch.equal(torch.random.get_rng_state(), state)
