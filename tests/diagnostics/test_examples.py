"""Models written the way tutorials write them each diagnose without an error finding."""

import importlib

import pytest

from diagnostics.cli import main
from reports.findingsfile import load_findings

EXAMPLES = {
    "stacked_rnn": ("RNN", "output"),
    "text_classifier": ("LSTM", "output"),
    "seq_regression": ("LSTM", "output[0]"),
    "bilstm_tagger": ("LSTM", "output['logits']"),
    "gru_forecaster": ("GRU", "output[0]"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_diagnoses_without_error(name, tmp_path, capsys):
    spec = importlib.import_module(f"diagnostics.examples.{name}").INPUT
    target = f"diagnostics/examples/{name}.py:build"
    code = main([target, "--input", spec, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    doc = load_findings(tmp_path / "findings.json")
    kind, output = EXAMPLES[name]
    assert [m["type"] for m in doc["modules"]] == [kind]
    assert doc["probes"]["output"].startswith(output + " ")
    module = doc["modules"][0]
    assert module["replay_trusted"] and module["replay_agreement"] < 1e-4
    layers = module["num_layers"] * (2 if module["bidirectional"] else 1)
    assert len(doc["probes"]["recurrent"]) == layers
    assert not [f for f in doc["findings"] if f["severity"] == "error"]


def test_packed_input_is_probed_per_sequence_length(tmp_path, capsys):
    """The text classifier packs by length: the replay sees the same lengths."""
    target = "diagnostics/examples/text_classifier.py:build"
    assert main([target, "--input", "int64[8,20]<5", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    doc = load_findings(tmp_path / "findings.json")
    assert doc["modules"][0]["packed"] is True
    (record,) = doc["probes"]["recurrent"]
    # With ids below 5 about a fifth are 0 (padding), so the lengths differ per sequence.
    assert doc["modules"][0]["replay_trusted"] is True
    assert record["end_curve"][0] == 1.0


def test_a_model_given_its_init_hidden_is_probed_on_one_call(tmp_path, capsys):
    """Which dimension is the batch of init_hidden(bsz) takes a trial call; the probes see
    only the real pass (pytorch/examples' word language model)."""
    target = "diagnostics/examples/tutorial_models.py:word_lm"
    assert main([target, "--input", "int64[35,20]<50", "--out", str(tmp_path)]) == 0
    doc = load_findings(tmp_path / "findings.json")
    assert doc["probes"]["call"] == "model(x, model.init_hidden(bsz=20))"
    assert [m["calls"] for m in doc["modules"]] == [1]
    assert "repeated-calls" not in {f["code"] for f in doc["findings"]}
