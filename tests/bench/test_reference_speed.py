"""bench.reference_speed: the paired rnnref/torch benchmark: runs, bar, bad input."""

from __future__ import annotations

import json

import pytest

from bench import presets, reference_speed
from bench import run as bench_run
from bench.cases import Case
from bench.presets import Preset
from bench.reference_speed import Row, main, misses
from usermodel import timing


def make_row(**overrides) -> Row:
    values = dict(
        cell="lstm",
        batch=64,
        forward=1.5,
        forward_no_onednn=0.9,
        training=2.0,
        memory=1.2,
        numpy_forward_ms=1,
        torch_forward_ms=1,
        numpy_training_ms=1,
        torch_training_ms=1,
        numpy_peak_mb=1,
        torch_peak_mb=1,
    )
    return Row(**(values | overrides))


def test_bar_is_checked_at_batch_64_only():
    assert misses(make_row()) == []
    assert misses(make_row(forward=2.5, training=3.0)) == [
        "forward 2.50 > 2.0",
        "training 3.00 > 2.5",
    ]
    assert misses(make_row(forward_no_onednn=1.0)) == ["forward_no_onednn 1.00 >= 1"]
    assert misses(make_row(memory=None)) == []
    assert misses(make_row(batch=16, forward=9.0)) == []


def test_a_small_run_prints_the_table_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(reference_speed, "SEQ_LEN", 5)
    out = tmp_path / "speed.json"
    argv = [
        "--cells",
        "rnn_tanh,gru",
        "--batches",
        "1",
        "--rounds",
        "2",
        "--threads",
        "1",
        "--no-memory",
        "--json",
    ]
    code = main([*argv, str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "medians of 2 paired rounds" in printed
    rows = json.loads(out.read_text())
    assert [(row["cell"], row["batch"]) for row in rows] == [("rnn_tanh", 1), ("gru", 1)]
    for row in rows:
        assert row["forward"] > 0 and row["training"] > 0 and row["numpy_forward_ms"] > 0
        assert row["memory"] is None


def test_training_step_peak_memory_is_measured_in_fresh_processes():
    peaks = reference_speed.measure_memory("rnn_tanh", 4, threads=1)
    assert set(peaks) == {"numpy", "torch"}
    for backend, megabytes in peaks.items():
        # one step at seq 100, batch 4, 256 units holds at least its hidden states (0.4 MB)
        assert megabytes is None or megabytes > 0.3, backend


@pytest.mark.parametrize(
    "argv",
    [["--cells", "lstm,transformer"], ["--batches", "1,x"], ["--batches", "0"], ["--rounds", "0"]],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_preset_run_holds_the_reference_speed_rows_and_no_side_file(tmp_path):
    shape = dict(batch=2, seq_len=3, input_size=4, hidden_size=5)
    cases = tuple(
        Case("gru", mode, backend, **shape)
        for mode in ("inference", "training")
        for backend in ("numpy", "torch", "torch-no-onednn")
    )
    preset = Preset("tiny", "test", cases, 1, 0.01)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(presets.PRESETS, "tiny", lambda: preset)
        assert bench_run.run("tiny", None, tmp_path) == 0
    assert list(tmp_path.glob("*.reference-speed.json")) == []
    (run_path,) = tmp_path.glob("*.json")
    rows = json.loads(run_path.read_text())["benchmarks"]
    by_backend = {(r["extra_info"]["backend"], r["extra_info"]["mode"]): r for r in rows}
    assert set(by_backend) == {(c.backend, c.mode) for c in cases}
    no_onednn = by_backend[("torch-no-onednn", "training")]["extra_info"]
    assert no_onednn["rel_err"] <= 1e-4 and "no oneDNN primitive" in no_onednn["kernel"]


def test_rounds_pause_where_the_library_changes(monkeypatch):
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda s: events.append(("pause", s)))
    calls = {
        name: (lambda name=name: events.append(name))
        for name in ("numpy_forward", "numpy_training", "torch_forward", "torch_training")
    }
    times = reference_speed.paired_times(calls, rounds=2)
    assert {name: len(t) for name, t in times.items()} == dict.fromkeys(calls, 2)
    pause = ("pause", timing.SETTLE_S)
    one_round = [*["numpy_forward"] * 2, *["numpy_training"] * 2, pause]
    one_round += [*["torch_forward"] * 2, *["torch_training"] * 2]
    backwards = [*["torch_training"] * 2, *["torch_forward"] * 2, pause]
    backwards += [*["numpy_training"] * 2, *["numpy_forward"] * 2]
    # a warm-up round, then 2 timed, every other one in reverse (one pause a round); an
    # untimed call each; nothing ran before the first
    assert events == one_round + backwards + one_round
