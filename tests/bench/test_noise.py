"""Noise warnings: rows with IQR above 10% of the median, and a busy machine."""

import os

from bench.environment import busy_warning
from bench.record import noise_warnings


def _entry(case, median, iqr):
    return {"extra_info": {"case": case}, "stats": {"median": median, "iqr": iqr, "rounds": 9}}


def test_rows_with_iqr_above_ten_percent_of_median_are_flagged():
    lines = noise_warnings([_entry("a", 1.0, 0.05), _entry("b", 1.0, 0.2), _entry("c", 2.0, 0.2)])
    assert len(lines) == 1 and lines[0].startswith("b: IQR 20% of the median")


def test_busy_machine_is_flagged_without_counting_our_own_threads():
    cpus = os.cpu_count()
    assert busy_warning(0.1, 0, "at the start") is None
    assert busy_warning(cpus + 0.1, cpus, "at the end") is None  # all of it is this run
    warning = busy_warning(2.0 * cpus, 1, "at the end")
    assert (
        warning and f"at the end: 1-minute load average {2.0 * cpus:.1f} on {cpus} CPUs" in warning
    )


def test_the_callers_pytest_settings_are_hidden_from_the_benchmark_session(monkeypatch):
    from bench.run import own_pytest_session

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")  # would make pytest-benchmark disable itself
    monkeypatch.setenv("PYTEST_ADDOPTS", "--benchmark-disable")
    with own_pytest_session():
        assert "PYTEST_XDIST_WORKER" not in os.environ and "PYTEST_ADDOPTS" not in os.environ
    assert os.environ["PYTEST_XDIST_WORKER"] == "gw1"
    assert os.environ["PYTEST_ADDOPTS"] == "--benchmark-disable"
