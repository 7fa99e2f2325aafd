"""The command: outputs, exit codes 0/1/2, one-line errors, TensorBoard files read back."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from diagnostics.cli import main
from reports.findingsfile import load_findings
from tests.diagnostics import models


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_findings_report_and_tensorboard(tmp_path, capsys):
    path = models.write(tmp_path)
    out_dir = tmp_path / "out"
    np.save(tmp_path / "y.npy", np.random.default_rng(0).standard_normal((6, 2), np.float32))
    code, out, err = run(
        capsys,
        f"{path}:build",
        "--input",
        "float32[6,12,4]",
        "--target",
        tmp_path / "y.npy",
        "--steps",
        "4",
        "--out",
        out_dir,
    )
    assert code == 0, err
    doc = load_findings(out_dir / "findings.json")
    assert doc["target"] == f"{path}:build"
    assert [m["name"] for m in doc["modules"]] == ["rnn"]
    assert doc["modules"][0]["replay_trusted"] is True
    assert doc["modules"][0]["replay_agreement"] < 1e-4
    (record,) = doc["probes"]["recurrent"]
    assert len(record["grad_states_norm"]) == 12 and record["end_curve"][0] == 1.0
    assert doc["probes"]["training"]["steps_done"] == 4
    assert "rnn (GRU, 1 layer(s))" in out and "wrote" in out
    assert "training: 4 Adam steps (lr 0.001), loss " in out and "max_norm" in out
    html = (out_dir / "report.html").read_text()
    assert "Gradient through time" in html and html.count("<svg") >= 4

    acc = EventAccumulator(str(out_dir / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    tags = acc.Tags()
    curve = acc.Scalars("grad_through_time/rnn/l0_forward/dL_dh")
    assert [e.step for e in curve] == list(range(12))
    np.testing.assert_allclose([e.value for e in curve], record["grad_states_norm"], rtol=1e-6)
    losses = acc.Scalars("train/loss")
    np.testing.assert_allclose(
        [e.value for e in losses], doc["probes"]["training"]["losses"], rtol=1e-6
    )
    assert "gates/rnn/l0_forward/z" in tags["histograms"]
    assert "grad/rnn.weight_hh_l0" in tags["histograms"]


def test_error_finding_exits_1(tmp_path, capsys):
    path = models.write(tmp_path)
    model = models_module(path).build()
    with torch.no_grad():
        model.rnn.weight_hh_l0[0, 0] = float("nan")
    torch.save(model.state_dict(), tmp_path / "nan.pt")
    code, out, _ = run(
        capsys,
        f"{path}:build",
        "--input",
        "float32[4,10,4]",
        "--checkpoint",
        tmp_path / "nan.pt",
        "--out",
        tmp_path / "o",
    )
    assert code == 1
    assert "ERROR   non-finite" in out and "rnn.weight_hh_l0" in out


def models_module(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_model_for_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([":missing", "--input", "float32[2,3,4]"], "has no attribute 'missing'"),
        ([":raises", "--input", "float32[2,3,4]"], "weights file 'w.bin' not found"),
        ([":build", "--input", "float32[2,3]x"], "expected dtype"),
        ([":build", "--input", "int64[2,3]"], "need an upper bound"),
        ([":build", "--input", "float32[2,3,5]"], "running model(x) failed"),
        ([":shape_bug", "--input", "float32[2,3,4]"], "input.size(-1) must be equal to input_size"),
        ([":build", "--data", "nope.npy"], "no such file"),
        ([":build", "--input", "float32[2,3,4]", "--checkpoint", "nope.pt"], "no such file"),
        ([":build", "--input", "float32[2,3,4]", "--target", "t.npy"], "does not match output"),
        ([":build", "--input", "float32[2,3,4]", "--lr", "0"], "--lr must be > 0"),
        ([":build", "--input", "float32[2,3,4]", "--seed", "-1"], "--seed must be >= 0"),
        ([":build", "--input", "float32[2,3,4]", "--steps", "-2"], "--steps must be >= 0"),
        ([":frozen", "--input", "float32[2,3,4]", "--steps", "2"], "no trainable parameter"),
    ],
)
def test_unusable_target_or_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    path = models.write(tmp_path)
    np.save(tmp_path / "t.npy", np.zeros((5, 5), np.float32))
    argv = [f"{path}{args[0]}", *args[1:], "--out", tmp_path / "o"]
    argv = [str(tmp_path / a) if a in ("nope.npy", "nope.pt", "t.npy") else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0] and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_shape_error_names_the_users_line(tmp_path, capsys):
    path = models.write(tmp_path)
    _, _, err = run(capsys, f"{path}:shape_bug", "--input", "float32[2,3,4]")
    assert f"{path}:" in err and "in forward" in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    path = models.write(tmp_path)
    code, _, err = run(capsys, f"{path}:raises", "--input", "float32[2,3,4]", "--debug")
    assert code == 2 and "Traceback" in err and "weights file" in err


def test_model_without_recurrent_layer_gets_whole_model_probes(tmp_path, capsys):
    path = models.write(tmp_path)
    code, out, _ = run(capsys, f"{path}:mlp", "--input", "float32[5,4]", "--out", tmp_path / "o")
    assert code == 0 and "no-recurrent-layer" in out
    doc = json.loads((tmp_path / "o" / "findings.json").read_text())
    names = [p["name"] for p in doc["probes"]["whole_model"]["parameters"]]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert doc["probes"]["whole_model"]["global_grad_norm"] > 0


def test_user_loss_from_target_file(tmp_path, capsys):
    path = models.write(tmp_path)
    np.save(tmp_path / "y.npy", np.array([0, 1, 1, 0, 1, 0]))
    code, _, err = run(
        capsys,
        f"{path}:build",
        "--input",
        "float32[6,7,4]",
        "--target",
        tmp_path / "y.npy",
        "--loss",
        "ce",
        "--out",
        tmp_path / "o",
    )
    assert code == 0, err
    doc = load_findings(tmp_path / "o" / "findings.json")
    assert doc["probes"]["objective"] == "ce against --target"
    assert doc["probes"]["loss"] == pytest.approx(np.log(2), abs=0.3)


def test_fresh_process_exit_2_without_traceback(tmp_path):
    path = models.write(tmp_path)
    bad = subprocess.run(
        [sys.executable, "-m", "diagnostics", f"{path}:raises", "--input", "float32[2,3,4]"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1 and "weights file 'w.bin' not found" in bad.stderr


def test_an_unwritable_report_keeps_the_findings(tmp_path, capsys):
    path = models.write(tmp_path)
    out_dir = tmp_path / "o"
    (out_dir / "report.html").mkdir(parents=True)
    code, _, err = run(capsys, f"{path}:build", "--input", "float32[3,5,4]", "--out", out_dir)
    assert code == 2 and "report.html" in err and err.count("\n") == 1
    assert load_findings(out_dir / "findings.json")["target"] == f"{path}:build"
    assert list((out_dir / "tensorboard").iterdir())


def test_readme_shows_the_example_output_as_printed(tmp_path, capsys):
    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    target = "diagnostics/examples/stacked_rnn.py:build"
    assert main([target, "--input", "float32[32,28,28]", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    block = [line for line in printed if not line.startswith("wrote ")]
    assert "\n".join(block) in readme


def _boom(*args, **kwargs):
    raise RuntimeError("boom in the suite")


@pytest.mark.parametrize(
    "where",
    ["forward", "backward", "after"],
    ids=["hook-in-forward", "hook-in-backward", "probe-after-the-pass"],
)
def test_an_internal_error_of_the_suite_exits_3_and_never_blames_the_model(
    tmp_path, capsys, monkeypatch, where
):
    """A failure of the suite's own code, in a hook inside the user's forward or backward or
    after the pass, is exit 3: one line saying so, the traceback in DIR/internal-error.txt."""
    from diagnostics import capture, pipeline

    if where == "forward":
        monkeypatch.setattr(capture.Capture, "_after", _boom)
    elif where == "backward":
        monkeypatch.setattr(capture.Capture, "_store", staticmethod(lambda *a: _boom))
    else:
        monkeypatch.setattr(pipeline, "probe_layer", _boom)
    path = models.write(tmp_path)
    out_dir = tmp_path / "o"
    code, _, err = run(capsys, f"{path}:build", "--input", "float32[6,5,4]", "--out", out_dir)
    assert code == 3
    (line,) = err.strip().splitlines()
    assert line.startswith("diagnostics: internal error of the tool, not of your model")
    assert "boom in the suite" in line and str(out_dir / "internal-error.txt") in line
    assert "Traceback" in (out_dir / "internal-error.txt").read_text()
    code, _, err = run(
        capsys, f"{path}:build", "--input", "float32[6,5,4]", "--out", out_dir, "--debug"
    )
    assert code == 3 and "Traceback" in err and "boom in the suite" in err
