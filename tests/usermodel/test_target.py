"""Loading targets and checkpoints: every failure is one line naming the target and the cause."""

import pytest
import torch
from torch import nn

from tests.diagnostics import models
from usermodel.errors import UsageError
from usermodel.target import load_checkpoint, load_target, target_name


def test_file_and_module_targets_load(tmp_path):
    path = models.write(tmp_path)
    assert isinstance(load_target(f"{path}:build").rnn, nn.GRU)
    model = load_target("diagnostics.examples.gru_forecaster:build")
    assert isinstance(model.gru, nn.GRU)
    assert target_name(f"{path}:build") == "user_model-build"
    assert target_name("diagnostics.examples.gru_forecaster:build") == "gru_forecaster-build"


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":", "expected path/to/file.py:factory"),
        (":missing", "has no attribute 'missing'"),
        (":NOT_CALLABLE", "not callable"),
        (":not_a_module", "returned a int, not an nn.Module"),
        (":raises", "RuntimeError: weights file 'w.bin' not found"),
    ],
)
def test_bad_targets(tmp_path, suffix, message):
    path = models.write(tmp_path)
    with pytest.raises(UsageError, match=message) as err:
        load_target(f"{path}{suffix}")
    assert "\n" not in str(err.value)


def test_the_users_line_is_named(tmp_path):
    path = models.write(tmp_path)
    with pytest.raises(UsageError) as err:
        load_target(f"{path}:raises")
    assert f"{path}:" in str(err.value) and "in raises" in str(err.value)


def test_missing_file_syntax_error_and_missing_module(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_target(f"{tmp_path}/nope.py:build")
    broken = models.write(tmp_path, "broken.py", "def build(:\n")
    with pytest.raises(UsageError, match="SyntaxError"):
        load_target(f"{broken}:build")
    with pytest.raises(UsageError, match="ModuleNotFoundError"):
        load_target("no_such_package.models:build")


def test_checkpoint_round_trip_and_key_messages(tmp_path):
    path = models.write(tmp_path)
    source = load_target(f"{path}:build")
    torch.save(source.state_dict(), tmp_path / "good.pt")
    target = load_target(f"{path}:build")
    load_checkpoint(target, tmp_path / "good.pt")
    assert torch.equal(target.out.weight, source.out.weight)

    state = source.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["out.bias"]
    torch.save(state, tmp_path / "keys.pt")
    with pytest.raises(UsageError, match=r"missing keys out\.bias; unexpected keys extra\.weight"):
        load_checkpoint(target, tmp_path / "keys.pt")

    state = source.state_dict()
    state["out.weight"] = torch.zeros(3, 8)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(UsageError, match="size mismatch"):
        load_checkpoint(target, tmp_path / "shape.pt")

    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(UsageError, match="not a state_dict"):
        load_checkpoint(target, tmp_path / "list.pt")
