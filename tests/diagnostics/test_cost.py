"""The cost measurement runs end to end and times what it says (its numbers come from
``python -m diagnostics cost``)."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from diagnostics.evaluation import cost
from diagnostics.evaluation.cost import measure
from usermodel import timing


def test_cost_measurement_on_a_tiny_lstm():
    result = measure(rounds=1, batch=2, steps=5, size=8)
    assert result["shape"] == "LSTM 2 layers, hidden 8, 5 steps, batch 2"
    assert result["forward_backward_s"] > 0 and result["diagnosis_s"] > 0
    assert result["outputs_s"] > 0
    assert all(len(result["timings"][k]) == 1 for k in ("forward_backward", "diagnosis", "outputs"))


def test_each_round_times_one_pass_one_diagnosis_and_one_writing_and_takes_medians(monkeypatch):
    """A fake clock that only the model's forward, the diagnosis and the writing move, by
    known amounts per call: warm-up and untimed passes cost 50 and 20, so a timing that took
    them in, or the diagnosis's own forwards, or the writing, would show."""
    clock = SimpleNamespace(now=0.0, diagnosing=False)
    pass_costs = iter([50.0, 20.0, 1.0, 20.0, 6.0, 20.0, 2.0])  # warm-up, (untimed, timed) x 3
    diagnosis_costs = iter([100.0, 9.0, 2.0, 40.0])  # warm-up, then rounds 1-3
    writing_costs = iter([4.0, 1.0, 6.0])
    fake_time = SimpleNamespace(perf_counter=lambda: clock.now, sleep=lambda seconds: None)
    monkeypatch.setattr(timing, "time", fake_time)  # the suite's one timer

    class ClockedLSTM(cost.TwoLayerLSTM):
        def forward(self, x):
            if not clock.diagnosing:
                clock.now += next(pass_costs)
            return super().forward(x)

    real_diagnose, real_write = cost.diagnose, cost.write_diagnose_report

    def diagnose(*args, **kwargs):
        clock.diagnosing = True
        try:
            return real_diagnose(*args, **kwargs)
        finally:
            clock.diagnosing = False
            clock.now += next(diagnosis_costs)

    def write(*args, **kwargs):
        real_write(*args, **kwargs)
        clock.now += next(writing_costs)

    monkeypatch.setattr(cost, "TwoLayerLSTM", ClockedLSTM)
    monkeypatch.setattr(cost, "diagnose", diagnose)
    monkeypatch.setattr(cost, "write_diagnose_report", write)
    result = measure(rounds=3, batch=2, steps=5, size=8)

    timings = result["timings"]
    assert timings == {
        "forward_backward": [1.0, 6.0, 2.0],
        "diagnosis": [9.0, 2.0, 40.0],
        "outputs": [4.0, 1.0, 6.0],
    }
    medians = (result["forward_backward_s"], result["diagnosis_s"], result["outputs_s"])
    assert medians == (2.0, 9.0, 4.0)  # the means would be 3, 17 and 3.67
    assert result["ratio"] == 4.5


def test_corpus_cost_times_a_fresh_model_per_call_and_names_what_it_cannot_measure(
    monkeypatch, capsys
):
    """One public model that keeps its state between calls (a second backward through the
    same model would raise) is measured; one whose diagnosis raises is named and left out."""
    from diagnostics.evaluation import cost_corpus
    from diagnostics.evaluation.corpus_public import public_corpus

    cases = {case.name: case for case in public_corpus()}
    stateful = cases["fmri-lstm-keeps-self-hidden"]
    row = cost_corpus.case_cost(stateful, rounds=1)
    assert row["name"] == stateful.name and row["pass_s"] > 0 and row["diagnosis_s"] > 0
    assert row["ratio"] == row["diagnosis_s"] / row["pass_s"]

    def failing():
        raise cost_corpus.UsageError("backward through the model failed: boom")

    broken = replace(stateful, name="broken", build=failing)
    monkeypatch.setitem(cost_corpus.PARTS, "two", lambda: [stateful, broken])
    rows = cost_corpus.report("two", rounds=1)
    printed = capsys.readouterr().out
    assert [r["name"] for r in rows] == [stateful.name]
    assert "broken" in printed and "not measured: backward through the model failed" in printed
    assert f"max {rows[0]['ratio']:.2f} passes ({stateful.name})" in printed


@pytest.mark.parametrize(
    "ratio, diagnosis_s, over",
    [(9.9, 5.0, False), (10.5, 5.0, True), (40.0, 0.8, False), (40.0, 1.2, True)],
)
def test_a_corpus_model_is_over_budget_past_ten_passes_unless_its_diagnosis_is_tiny(
    ratio, diagnosis_s, over
):
    from diagnostics.evaluation.cost_corpus import over_budget

    assert over_budget({"ratio": ratio, "diagnosis_s": diagnosis_s}) is over
