"""What a ``python -m bench`` run writes beside its rows: the GEMM peak, the report."""

from bench.presets import get_preset
from reports.__main__ import main as reports_main

from .helpers import run_bench_here

CASES = ("--preset", "smoke", "--filter", "rnn_tanh and inference and numpy")


def test_no_report_writes_the_run_file_alone_and_reports_renders_it_later(tmp_path):
    done = run_bench_here(*CASES, "--no-report", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_path,) = tmp_path.glob("*.json")
    assert f"run file: {run_path}" in done.stdout and "report:" not in done.stdout
    assert not list(tmp_path.glob("*.html"))
    assert reports_main(["bench", str(run_path)]) == 0
    assert run_path.with_suffix(".html").is_file()


def test_the_peak_is_timed_as_long_as_the_preset_times_a_row(tmp_path, monkeypatch):
    asked = []

    def peak(**options):
        asked.append(options)
        return {"numpy": 1.0, "torch": 1.0, "cpu": 1.0}

    monkeypatch.setattr("bench.run.measure_peak", peak)
    done = run_bench_here(*CASES, "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert asked == [{"seconds": get_preset("smoke").max_time}]  # 0.02 s: 5 calls or more
