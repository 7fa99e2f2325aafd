"""``python -m bench model``: the user's whole model under each deployment path, and its layers."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import ClassVar

import pytest
import torch
from torch import nn

from bench import model as bench_model
from bench import native_output
from bench.__main__ import main
from bench.check import BOUNDS
from bench.paths import PATHS, Deployed, Eager, Path
from bench.seen import seen_layers
from tests.hang_guard import SUITE_RUN_S
from usermodel import load_target

from .helpers import run_bench, run_bench_here
from .test_cli import _assert_one_line_exit_2, _cli

TAGGER = "diagnostics.examples.tutorial_models:tagger"
MODELS = "diagnostics/examples/tutorial_models.py"  # the README's FILE.py:factory form


def _load(path):
    (run_path,) = path.glob("*.json")
    return run_path, json.loads(run_path.read_text())


def _rows(run, kind=None):
    rows = {b["extra_info"]["case"]: b for b in run["benchmarks"]}
    return {
        k: v
        for k, v in rows.items()
        if (v["extra_info"].get("kind") == "model") == (kind == "model")
    }


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """The diagnostics example text classifier: embedding + packed LSTM + linear, int64 ids."""
    out = tmp_path_factory.mktemp("model")
    done = run_bench_here(
        "model", "diagnostics.examples.text_classifier:build", "--input", "int64[4,7]<1000",
        "--preset", "smoke", "--filter", "not compile and (model or inference-torch-b)",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, *_load(out)


def test_every_path_ran_or_says_why_not(classifier):
    _, _, run = classifier
    rows = _rows(run, "model")
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    for mode, path in [("inference", p) for p in PATHS if p != "compile"] + [
        ("training", p) for p in ("eager", "flush-denormal", "torchscript", "bf16", "cuda")
    ]:
        case = f"model-{mode}-{path}"
        assert case in rows or skipped.get(case), case
    assert skipped["model-training-int8"] == (
        "int8: dynamic quantization is inference-only (no gradients)"
    )  # the same words as the matrix's int8 rows: one declaration
    for case, entry in rows.items():
        info = entry["extra_info"]
        assert 0 <= info["rel_err"] <= BOUNDS[info["numerics"]], case
        assert info["cell"] == "model" and info["target"].endswith("text_classifier:build")
        assert len(entry["stats"]["data"]) == entry["stats"]["rounds"]
    assert rows["model-inference-torchscript"]["extra_info"]["torchscript"] in ("script", "trace")
    assert rows["model-inference-int8"]["extra_info"]["numerics"] == "int8"
    assert (
        "rnn " in rows["model-inference-bf16"]["extra_info"]["kernel"]
        or not torch.backends.mkldnn.is_available()
    )


def test_an_export_that_fails_is_a_skipped_row_with_the_exporters_reason(classifier):
    _, _, run = classifier
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    reason = skipped["model-inference-onnxruntime"]
    assert reason.startswith("torch.onnx.export: ") and "\n" not in reason
    assert "Next steps" not in reason  # the cause, not torch.onnx's page of advice
    assert reason.endswith("text_classifier.py:20 in forward)"), reason  # the user's line


def test_its_layers_ran_at_the_shapes_they_saw(classifier):
    _, run_path, run = classifier
    meta = run["rnnref"]
    assert meta["preset"] == "model" and run_path.name.startswith("model-")
    (layer,) = meta["model"]["layers"]
    assert layer["module"] == "rnn" and layer["packed"] and layer["batch_first"]
    assert layer["shape"].startswith("lstm-b4-t7-i64-h96-l1-uni-packed-f")
    assert meta["shapes"] == [layer["shape"]]
    assert meta["model"]["input_shape"] == [4, 7] and meta["model"]["input_dtype"] == "int64"
    layer_rows = _rows(run)
    assert layer_rows and all(
        case.startswith("lstm-inference-torch-b4-t7-i64-h96-l1-uni-packed") for case in layer_rows
    )
    page = run_path.with_suffix(".html").read_text()
    assert '<section id="model">' in page and "Your layers" in page
    assert 'id="model-table"' in page and layer["shape"] in page


def test_the_tutorial_tagger_exports_to_onnx_and_its_2_layer_lstm_is_seen(tmp_path, capsys):
    from diagnostics.examples.tutorial_models import tagger

    data, checkpoint = tmp_path / "sentence.pt", tmp_path / "tagger.pt"
    torch.save(torch.randint(0, 50, (9,)), data)  # one sentence of 9 token ids
    torch.save(tagger().state_dict(), checkpoint)
    out = tmp_path / "out"
    code = main(
        ["model", TAGGER, "--data", str(data), "--checkpoint", str(checkpoint),
         "--preset", "smoke", "--filter", "model-inference-onnxruntime", "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    _, run = _load(out)
    assert run["rnnref"]["model"]["input"] == str(data)
    assert run["rnnref"]["model"]["checkpoint"] == str(checkpoint)
    rows = _rows(run, "model")
    onnx = rows["model-inference-onnxruntime"]["extra_info"]
    assert onnx["exporter"].startswith("torch.onnx.export(") and onnx["opset"] >= 9
    assert onnx["rel_err"] <= 1e-4
    assert run["rnnref"]["model"]["layers"][0]["shape"] == "lstm-b1-t9-i16-h24-l2-uni"
    assert not _rows(run)  # the filter kept no layer row: only the model was timed


def test_seen_layers_reads_packed_lengths_and_batch_first():
    model = load_target("diagnostics.examples.text_classifier:build")
    tokens = torch.tensor([[5, 6, 7, 8], [5, 6, 0, 0], [9, 0, 0, 0], [1, 2, 3, 0]])
    (layer,) = seen_layers(model, lambda: model(tokens))
    assert (layer.batch, layer.seq_len, layer.fill) == (4, 4, round((4 + 2 + 1 + 3) / 16, 2))
    assert layer.shape == "lstm-b4-t4-i64-h96-l1-uni-packed-f0.62"
    stacked = load_target("diagnostics.examples.stacked_rnn:build")
    (rnn,) = seen_layers(stacked, lambda: stacked(torch.randn(3, 5, 28)))
    assert rnn.shape == "rnn_tanh-b3-t5-i28-h128-l2-uni" and not rnn.packed


def test_a_path_out_of_bounds_fails_its_row_and_the_run(tmp_path, monkeypatch, capsys):
    class Wrong(Path):
        name = "wrong"

        def prepare(self, subject):
            right = subject.module

            def call(*args):
                return [t + 1.0 for t in bench_model._floats(right(*args))]

            return Deployed(call, "wrong", subject.params())

    monkeypatch.setitem(PATHS, "wrong", Wrong())
    code = main(
        ["model", TAGGER, "--input", "int64[6]<50", "--preset", "smoke",
         "--filter", "model-inference-wrong or model-inference-eager", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 1
    _, run = _load(tmp_path)
    (failed,) = run["rnnref"]["failed"]
    assert failed["case"] == "model-inference-wrong" and "exceeds the fp32 bound" in failed["error"]
    assert "model-inference-eager" in _rows(run, "model")
    assert "FAILED model-inference-wrong" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nowhere.py:build", "--input", "int64[4]<9"], ["nowhere.py"]),
        ([TAGGER, "--input", "int64[4]"], ["upper bound"]),
        ([TAGGER], ["--input", "--data"]),
        # the trailing dimension of a forecaster's input is not the LSTM's input_size
        (["diagnostics.examples.seq_regression:build", "--input", "float32[5,2,3]"],
         ["fails on the input", "model(x, None)", "RuntimeError"]),
        ([TAGGER, "--input", "int64[4]<9", "--build-limit", "0"], ["--build-limit", "> 0"]),
        ([TAGGER, "--input", "int64[4]<9", "--build-limit", "nan"], ["--build-limit"]),
        ([TAGGER, "--input", "int64[4]<9", "--filter", "lstm and ("], ["bad --filter"]),
        ([TAGGER, "--data", "missing.pt"], ["missing.pt", "no such file"]),
        ([TAGGER, "--input", "int64[4]<9", "--checkpoint", "nope.pt"], ["checkpoint", "nope.pt"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path, capsys):
    code, _, err = _cli(capsys, "model", *args, "--out", str(tmp_path / "out"))
    _assert_one_line_exit_2(code, err, *words)
    assert not (tmp_path / "out").exists()


class SubnormalProbe(nn.Module):
    """Records whether torch flushes a subnormal product (1e-30 * 1e-10) to zero in forward
    (in a class attribute: the paths run deep copies of the model)."""

    flushed: ClassVar[list[bool]] = []

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        tiny = torch.tensor([1e-30]) * torch.tensor([1e-10])
        SubnormalProbe.flushed.append(bool(tiny.item() == 0.0))
        return self.linear(x)


def _subnormal_survives() -> bool:
    return (torch.tensor([1e-30]) * torch.tensor([1e-10])).item() != 0.0


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_flush_denormal_flushes_inside_its_calls_only(mode):
    path = PATHS["flush-denormal"]
    user = bench_model.UserModel(SubnormalProbe(), torch.randn(4, 3), "probe", "float32[4,3]")
    if path.skip_reason(mode):
        pytest.skip(path.skip_reason(mode))
    assert _subnormal_survives()
    runner = bench_model.build_runner(path, user, mode)
    SubnormalProbe.flushed.clear()
    runner.step()
    assert SubnormalProbe.flushed == [True]
    assert _subnormal_survives()  # and off again after the call
    assert runner.numerics == "fp32" and runner.module.endswith("(flush_denormal)")


def test_training_rows_alone_of_a_tutorial_model_are_timed_and_no_placeholder(tmp_path):
    # The model makes h0 = torch.zeros(...) in forward, as the tutorials do: its float64
    # reference once failed on it (every row skipped, blamed on the path). And the
    # training rows alone once failed: their runner made the shared input require grad
    # before the float64 reference (computed for the first row checked) copied it.
    done = run_bench_here(
        "model", "diagnostics.examples.stacked_rnn:build", "--input", "float32[4,28,28]",
        "--preset", "smoke", "--filter", "model and training and (eager or bf16)",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "NotSet" not in done.stdout and "skipped" not in done.stdout.split("timed ")[0]
    _, run = _load(tmp_path)
    assert set(_rows(run, "model")) == {"model-training-eager"}
    assert not _rows(run)
    # bfloat16 cannot take the float32 h0: the reason names the user's line that met it
    (skipped,) = run["rnnref"]["skipped"]
    assert skipped["case"] == "model-training-bf16"
    assert skipped["reason"].endswith("stacked_rnn.py:19 in forward)"), skipped["reason"]


def _bench_model(out, factory, spec, expression, run=run_bench_here):
    """``python -m bench model FILE.py:factory --input SPEC --preset smoke --out DIR`` as the
    README gives it, ``--filter`` keeping its model rows; the run file and the stdout. In
    this process, or ``run=run_bench`` in a child where the filter keeps compile rows."""
    done = run(
        "model", f"{MODELS}:{factory}", "--input", spec, "--preset", "smoke",
        "--filter", expression, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_path, run = _load(out)
    assert run_path.with_suffix(".html").is_file()
    return run, done.stdout


def _assert_every_path_ran_or_says_why_not(run, stdout, paths):
    rows = _rows(run, "model")
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    for mode in bench_model.MODES:
        for path in paths:
            case = f"model-{mode}-{path}"
            assert case in rows or skipped.get(case), case
            assert "\n" not in skipped.get(case, "")
    for case, entry in rows.items():
        assert entry["extra_info"]["build_s"] >= 0, case  # stored apart, as compile_s is
        assert f"{case} building ..." in stdout and f"{case} built in " in stdout
    return rows, skipped


def test_a_word_lm_whose_forward_takes_its_hidden_state_is_timed_on_every_path(tmp_path):
    # pytorch/examples' word_language_model: forward(input, hidden), init_hidden(bsz), token
    # ids (seq, batch); once refused with exit 2 ("missing 1 required positional argument")
    run, stdout = _bench_model(tmp_path, "word_lm", "int64[35,20]<50", "model", run=run_bench)
    rows, _ = _assert_every_path_ran_or_says_why_not(run, stdout, PATHS)
    model = run["rnnref"]["model"]
    assert model["call"] == "model(x, model.init_hidden(bsz=20))"
    assert model["outputs"] == ["output[0] (700, 50)", "output[1][0] (2, 20, 24)",
                                "output[1][1] (2, 20, 24)"]  # fmt: skip
    for case in ("eager", "torchscript", "compile", "onnxruntime"):
        assert f"model-inference-{case}" in rows, case  # the state goes into traces and exports
    assert "model-training-eager" in rows
    assert (
        rows["model-inference-compile"]["extra_info"]["build_s"]
        >= rows["model-inference-compile"]["extra_info"]["compile_s"]
    )
    page = next(tmp_path.glob("*.html")).read_text()
    assert "build (s)" in page and "model.init_hidden(bsz=20)" in page


def test_a_float64_model_is_timed_in_float64(tmp_path):
    # pytorch/examples' time_sequence_prediction: .double(), states made with dtype=double;
    # once every path failed ("mat1 and mat2 must have the same dtype") and it exited 2
    run, stdout = _bench_model(tmp_path, "time_sequence", "float64[3,12]", "model and not compile")
    paths = [p for p in PATHS if p != "compile"]
    rows, skipped = _assert_every_path_ran_or_says_why_not(run, stdout, paths)
    assert run["rnnref"]["model"]["input_dtype"] == "float64"
    for case in ("inference-eager", "training-eager", "inference-torchscript"):
        info = rows[f"model-{case}"]["extra_info"]
        assert info["dtype"] == "float64" and info["rel_err"] <= 1e-12, case
    assert skipped["model-inference-bf16"].startswith("bfloat16: RuntimeError: ")


def test_a_packed_bidirectional_sentiment_lstm_shows_each_paths_build_time(tmp_path):
    # bentrevett's packed 2-layer bi-LSTM: minutes of silence once, with no build time shown
    run, stdout = _bench_model(
        tmp_path, "packed_sentiment", "int64[12,4]<50", "model and not compile"
    )
    paths = [p for p in PATHS if p != "compile"]
    rows, _ = _assert_every_path_ran_or_says_why_not(run, stdout, paths)
    (layer,) = run["rnnref"]["model"]["layers"]
    assert layer["packed"] and layer["shape"].startswith("lstm-b4-t12-i16-h24-l2-bi-packed")
    assert {"model-inference-eager", "model-training-eager"} <= set(rows)
    page = next(tmp_path.glob("*.html")).read_text()
    assert "build (s)" in page


def test_a_path_still_building_at_the_build_limit_is_skipped_and_the_run_goes_on(
    tmp_path, monkeypatch, capsys
):
    class Slow(Path):
        name = "slow"

        def prepare(self, subject):
            time.sleep(8)
            return Eager().prepare(subject)

    monkeypatch.setitem(PATHS, "slow", Slow())
    code = main(
        ["model", TAGGER, "--input", "int64[6]<50", "--preset", "smoke", "--build-limit", "2",
         "--filter", "model-inference-slow or model-inference-eager", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    _, run = _load(tmp_path)
    (skipped,) = run["rnnref"]["skipped"]
    assert skipped["case"] == "model-inference-slow"
    assert skipped["reason"].startswith("slow: still building after 2 s (--build-limit)")
    assert "model-inference-eager" in _rows(run, "model")
    assert "model-inference-slow building ..." in capsys.readouterr().out


def test_a_build_abandoned_inside_torch_does_not_abort_the_exit(tmp_path):
    # the interpreter's teardown under a thread still inside torch.compile aborted (exit 134)
    done = run_bench(
        "model", TAGGER, "--input", "int64[6]<50", "--preset", "smoke", "--build-limit", "0.01",
        "--filter", "model-inference-compile or model-inference-eager", "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, run = _load(tmp_path)
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    assert "--build-limit" in skipped["model-inference-compile"]  # eager may be, on a busy machine


def test_a_failed_onnx_export_gives_its_reason_not_torchs_graph_dump(tmp_path, capfd):
    # the README's packed text classifier: both exporters fail; the TorchScript one printed
    # its whole graph (60 lines of "%123 : Float(...) = aten::...") from C++
    done = run_bench_here(
        "model", "diagnostics/examples/text_classifier.py:build", "--input", "int64[8,20]<1000",
        "--preset", "smoke", "--filter", "model-inference-onnxruntime", "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "model-inference-onnxruntime skipped: torch.onnx.export: " in done.stdout
    native = capfd.readouterr().out
    assert "Torch IR graph" not in native and "aten::" not in native, native[:2000]


def test_a_build_abandoned_inside_a_capture_gives_the_console_back(capfd):
    leave = threading.Event()

    def build():  # an export past --build-limit, its native output captured
        with native_output.captured_stdout():
            leave.wait(SUITE_RUN_S)  # hang guard

    try:
        with pytest.raises(bench_model.BuildTimeout):
            bench_model.bounded(build, 0.5, "slow")
        os.write(1, b"the run goes on\n")
    finally:
        leave.set()
    assert capfd.readouterr().out == "the run goes on\n"
