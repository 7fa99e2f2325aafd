"""An interrupted run keeps every finished row in its partial file, and it still loads."""

import json
import signal
import subprocess
import time

import pytest

from reports.runfile import load_run
from tests.hang_guard import COMMAND_S, START_S
from tests.terminal import sigint_default

from .helpers import ROOT, bench_command

CASE = {
    "backend": "torch", "cell": "lstm", "mode": "inference", "batch": 1, "seq_len": 1,
    "input_size": 1, "hidden_size": 1, "num_layers": 1, "bidirectional": False,
    "layout": "padded", "fill": 1.0, "dtype": "float32", "device": "cpu",
}  # fmt: skip


def test_interrupted_run_keeps_finished_rows(tmp_path):
    proc = subprocess.Popen(
        # the quick preset runs for minutes: Ctrl-C comes after its first rows however
        # slowly the machine gets the test to send it
        bench_command("--preset", "quick", "--filter", "not compile", "--out", str(tmp_path)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        deadline = time.monotonic() + START_S
        rows = []
        while time.monotonic() < deadline and len(rows) < 3:
            time.sleep(0.2)
            partials = list(tmp_path.glob("*.partial.jsonl"))
            if partials:
                rows = [
                    line for line in partials[0].read_text().splitlines() if '"benchmark"' in line
                ]
        assert len(rows) >= 3, "the run wrote no rows in time"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=COMMAND_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, output[-2000:]
    assert "interrupted" in output
    assert not list(tmp_path.glob("*[0-9].json"))  # no final file pretends to be complete
    (partial,) = tmp_path.glob("*.partial.jsonl")
    run = load_run(partial)
    assert run["partial"] and len(run["benchmarks"]) >= 3
    assert all(json.loads(line) for line in partial.read_text().splitlines()[:-1])
    page = partial.with_suffix(".html").read_text()  # the report of what finished
    assert 'id="partial-note"' in page and 'id="results-table"' in page


def test_a_truncated_last_line_loses_only_that_line(tmp_path):
    from bench.check import BOUNDS
    from bench.record import RunRecorder
    from reports.runfile import SCHEMA

    partial = tmp_path / "r.partial.jsonl"
    recorder = RunRecorder(partial, {"schema": SCHEMA, "preset": "smoke", "bounds": BOUNDS})
    recorder.start({"node": "here"})
    stats = {"median": 0.5, "iqr": 0.0, "rounds": 1, "data": [0.5]}
    entry = {"name": "x", "extra_info": {**CASE, "case": "c"}, "stats": stats}
    recorder.benchmark(entry)
    recorder.skipped("case-a", "no GPU")
    recorder.close()
    with partial.open("a") as f:
        f.write('{"benchmark": {"name": "half')
    run = load_run(partial)
    assert run["benchmarks"] == [entry]
    assert run["rnnref"]["skipped"] == [{"case": "case-a", "reason": "no GPU"}]


@pytest.mark.parametrize("kind", ["benchmark", "skipped"])
def test_every_partial_line_has_exactly_one_key(tmp_path, kind):
    from bench.record import RunRecorder

    partial = tmp_path / "r.partial.jsonl"
    recorder = RunRecorder(partial, {"schema": "rnnref-run/1"})
    recorder.start({})
    if kind == "benchmark":
        recorder.benchmark({"extra_info": {"case": "c"}, "stats": {}})
    else:
        recorder.skipped("c", "r")
    recorder.close()
    lines = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [list(line) for line in lines] == [["header"], [kind]]


def test_a_row_timed_in_two_passes_loads_once_with_all_its_timings(tmp_path):
    from bench.check import BOUNDS
    from bench.record import RunRecorder, merge_timings
    from reports.runfile import SCHEMA

    partial = tmp_path / "r.partial.jsonl"
    recorder = RunRecorder(partial, {"schema": SCHEMA, "preset": "smoke", "bounds": BOUNDS})
    recorder.start({})
    rows = {}
    for case in ("a", "b"):
        info = {**CASE, "case": case}
        rows[case] = {"extra_info": info, "stats": {"median": 1.0, "iterations": 1, "data": [1.0]}}
        recorder.benchmark(rows[case])
    both = merge_timings(rows["a"], [3.0, 2.0])
    recorder.benchmark(both)
    recorder.close()
    run = load_run(partial)
    assert [r["extra_info"]["case"] for r in run["benchmarks"]] == ["a", "b"]
    assert run["benchmarks"][0] == both == recorder.benchmarks[0]
    assert len(partial.read_text().splitlines()) == 4  # header and one line per pass


def test_merged_timings_have_pytest_benchmarks_statistics():
    from pytest_benchmark.stats import Stats

    from bench.record import merge_timings

    first = {
        "name": "x",
        "stats": {"median": 0.2, "rounds": 2, "iterations": 1, "data": [0.1, 0.3]},
    }
    merged = merge_timings(first, [0.5, 0.4, 0.2])
    expected = Stats()
    for seconds in (0.1, 0.3, 0.5, 0.4, 0.2):
        expected.update(seconds)
    assert merged["stats"] == {**expected.as_dict(), "iterations": 1, "data": expected.data}
    assert merged["stats"]["median"] == 0.3 and merged["stats"]["rounds"] == 5
    assert merged["name"] == "x" and first["stats"]["data"] == [0.1, 0.3]  # input untouched
