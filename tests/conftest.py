import os

# OpenMP threads that wait sleep instead of spinning. The suite runs on xdist workers that
# share the cores with each other and with the bench runs they start, each with torch's
# default threads (one per core): a spinning thread holds a core its peer needs, and a
# tiny model's call then waits a scheduler time slice per parallel region (on 2 busy
# cores a packed LSTM's 2 ms call took 900 ms). Set before anything imports torch;
# the tests' child processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import functools

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@functools.cache
def _gemm_peak() -> tuple[tuple[str, float], ...]:
    from bench.peak import measure_peak

    return tuple(measure_peak().items())


@pytest.fixture(autouse=True)
def _gemm_peak_measured_once(monkeypatch):
    """A bench run in this process (``bench.run.run``, by its ``main`` or called) measures
    the GEMM peak at its start (1.2 s for the quick preset): measured by the first run of
    this test process and reused by the later ones. A run in a child process measures its
    own."""
    monkeypatch.setattr("bench.run.measure_peak", lambda **_: dict(_gemm_peak()))
