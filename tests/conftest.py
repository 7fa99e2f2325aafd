import os

# OpenMP threads that wait sleep instead of spinning. The suite runs on xdist workers that
# share the cores with each other and with the bench runs they start, each with torch's
# default threads (one per core): a spinning thread holds a core its peer needs, and a
# tiny model's call then waits a scheduler time slice per parallel region (on 2 busy
# cores a packed LSTM's 2 ms call took 900 ms). Set before anything imports torch;
# the tests' child processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
