"""``bench model`` on the models written after widely used public RNN code (diagnostics'
public corpus): every one is called as planned and timed on the eager path in-process, and
three representative ones (a word LM with ``init_hidden``, a packed bi-LSTM, a decoder
stepped one token per call) go through the command on every deployment path."""

from __future__ import annotations

import io
import json
import re

import pytest
import torch

from bench import model as bench_model
from bench.presets import get_preset
from bench.record import RunRecorder
from diagnostics.evaluation.corpus_public import public_corpus
from reports.runfile import SCHEMA
from usermodel import UsageError

from .helpers import run_bench_here

CASES = {case.name: case for case in public_corpus()}


def _recorder(tmp_path) -> RunRecorder:
    recorder = RunRecorder(tmp_path / "r.partial.jsonl", {"schema": SCHEMA, "preset": "model"})
    recorder.start({})
    return recorder


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_public_model_is_timed_eagerly_or_refused_as_torch_refuses_it(name, tmp_path):
    case = CASES[name]
    model, x = case.build()[:2]
    if case.refused:  # torch cannot run it as written: the user's input error, exit 2
        with pytest.raises(UsageError, match=re.escape(case.refused)):
            bench_model.user_model(model, x, name, "corpus")
        return
    user = bench_model.user_model(model, x, name, "corpus")
    run = bench_model.ModelBench(user, get_preset("smoke"), lambda cid: "-eager" in cid, [])
    recorder = _recorder(tmp_path)
    stream = io.StringIO()
    run.run(recorder, threads=torch.get_num_threads(), stream=stream)
    recorder.close()
    assert not recorder.rnnref["failed"], recorder.rnnref["failed"]
    timed = {row["extra_info"]["case"] for row in recorder.benchmarks}
    skipped = {s["case"]: s["reason"] for s in recorder.rnnref["skipped"]}
    assert "model-inference-eager" in timed, stream.getvalue()
    for mode in bench_model.MODES:
        case_id = f"model-{mode}-eager"
        assert case_id in timed or "\n" not in skipped[case_id], case_id


def test_a_model_that_makes_float32_tensors_itself_is_checked_in_its_own_dtype(tmp_path):
    # d2l's RNNModel one-hot encodes with .type(torch.float32): it cannot run in float64,
    # and every row was once skipped for the suite's float64 reference
    model, x = CASES["d2l-gru-begin-state"].build()[:2]
    user = bench_model.user_model(model, x, "d2l", "corpus")
    run = bench_model.ModelBench(user, get_preset("smoke"), lambda cid: "-eager" in cid, [])
    recorder, stream = _recorder(tmp_path), io.StringIO()
    run.run(recorder, threads=torch.get_num_threads(), stream=stream)
    recorder.close()
    assert user.reference_dtype == "float32"
    assert user.reference_fallback.startswith("the model does not run in float64: ")
    assert "checked against the eager model in float32" in stream.getvalue()
    rows = {row["extra_info"]["case"]: row["extra_info"] for row in recorder.benchmarks}
    assert set(rows) == {"model-inference-eager", "model-training-eager"}
    assert all(info["reference_dtype"] == "float32" for info in rows.values())


def _command(tmp_path, name: str, expression: str) -> tuple[dict, str]:
    """``python -m bench model FILE.py:build --data X.pt --preset smoke`` on a public model
    written to a file of its own, as a user's would be; the run file and the stdout. Run
    in this process: the expressions keep no compile row."""
    target, data = tmp_path / "public_model.py", tmp_path / "input.pt"
    target.write_text(
        "from diagnostics.evaluation.corpus_public import public_corpus\n\n\n"
        "def build():\n"
        f"    return next(c for c in public_corpus() if c.name == {name!r}).build()[0]\n"
    )
    torch.save(CASES[name].build()[1], data)
    out = tmp_path / "out"
    done = run_bench_here(
        "model", f"{target}:build", "--data", str(data), "--preset", "smoke",
        "--filter", expression, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_path,) = out.glob("*.json")
    return json.loads(run_path.read_text()), done.stdout


@pytest.mark.parametrize(
    ("name", "expression"),
    # the word LM and the packed bidirectional LSTM run every path in test_model.py
    [("seq2seq-lstm-teacher-forcing", "model and not compile")],
)
def test_representative_public_models_run_every_path_or_say_why_not(name, expression, tmp_path):
    run, stdout = _command(tmp_path, name, expression)
    rows = {b["extra_info"]["case"]: b for b in run["benchmarks"]}
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    assert not run["rnnref"]["failed"]
    for mode in bench_model.MODES:
        for path in bench_model.PATHS:
            case_id = f"model-{mode}-{path}"
            if path == "compile" and "not compile" in expression:
                continue
            assert case_id in rows or skipped.get(case_id), case_id
            assert "\n" not in skipped.get(case_id, "")
    assert {"model-inference-eager", "model-training-eager"} <= set(rows), stdout[-3000:]
    for entry in rows.values():
        assert entry["stats"]["iterations"] == 1 and entry["options"]["timer"] == "perf_counter"
        assert len(entry["stats"]["data"]) == entry["stats"]["rounds"]
