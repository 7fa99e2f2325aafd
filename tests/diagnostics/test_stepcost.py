"""The runtime settings a training step runs with, read without changing them."""

import pytest
import torch

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
