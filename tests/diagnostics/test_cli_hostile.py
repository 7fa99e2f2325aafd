"""``python -m diagnostics`` against a careless user and a hostile file.

Every case gets one line ``diagnostics: error: ...`` on stderr and exit 2 (130 for
Ctrl-C), no traceback, and nothing written when the refusal comes before the work.
"""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
import torch

from diagnostics.cli import main
from tests.hang_guard import COMMAND_S, START_S
from tests.terminal import sigint_default
from usermodel.memory import available_bytes

HOSTILE = """
    import pathlib
    import sys
    import time

    from torch import nn

    HERE = pathlib.Path(__file__).parent


    class Net(nn.Module):
        def __init__(self, behaviour=None):
            super().__init__()
            self.rnn = nn.GRU(4, 8, batch_first=True)
            self.behaviour = behaviour

        def forward(self, x):
            if self.behaviour == "exit":
                sys.exit(3)
            if self.behaviour == "hang":
                (HERE / "started").touch()
                time.sleep(3600)  # a hang: only Ctrl-C (or the test's hang guard) ends it
            return self.rnn(x)[0]


    def build():
        (HERE / "factory-called").touch()
        return Net()


    def exits():
        sys.exit("no GPU here, giving up")


    def exits_in_forward():
        return Net("exit")


    def hangs():
        (HERE / "started").touch()
        time.sleep(3600)  # a hang: only Ctrl-C (or the test's hang guard) ends it


    def hangs_in_forward():
        return Net("hang")
"""


class Evil:
    """A pickle that would run a shell command when loaded without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "hostile.py"
    path.write_text(textwrap.dedent(HOSTILE))
    return path


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, message, expected_code=2):
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("diagnostics: "), err
    assert message in lines[0] and "Traceback" not in err


def _zip_without_directory(path):
    torch.save(torch.zeros(2, 3, 4), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut mid-archive: no central directory


def _zip_with_wrong_records(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("evil", "refused by torch.load(weights_only=True)"),
        ("legacy-garbage", "refused by torch.load(weights_only=True)"),
        ("truncated", "cannot be loaded"),
        ("wrong-records", "cannot be loaded"),
        ("empty", "cannot be loaded"),
    ],
)
def test_hostile_or_corrupt_pt_data_is_one_line(tmp_path, capsys, target, make, message):
    data = tmp_path / "x.pt"
    marker = tmp_path / "pwned"
    if make == "evil":
        torch.save(Evil(marker), data)
    elif make == "legacy-garbage":
        data.write_bytes(b"\x80\x02garbage")
    elif make == "truncated":
        _zip_without_directory(data)
    elif make == "wrong-records":
        _zip_with_wrong_records(data)
    else:
        data.write_bytes(b"")
    code, _, err = run(capsys, f"{target}:build", "--data", data, "--out", tmp_path / "o")
    assert_one_line(code, err, message)
    assert f"data file {data}" in err
    assert not marker.exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("suffix", [".pt", ".npy"])
def test_zero_size_batch_in_data_is_refused(tmp_path, capsys, target, suffix):
    data = tmp_path / f"x{suffix}"
    if suffix == ".pt":
        torch.save(torch.zeros(0, 5, 4), data)
    else:
        np.save(data, np.zeros((0, 5, 4), np.float32))
    code, _, err = run(capsys, f"{target}:build", "--data", data, "--out", tmp_path / "o")
    assert_one_line(code, err, "shape (0, 5, 4) has no element")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "float32[2,3,99999999999999999999999]"], "dimension 3"),
        (["--input", "int64[2,3]<99999999999999999999999"], "upper bound must be at least 1"),
        (["--input", "int32[2,3]<2147483649"], "at most 2147483648"),
        (["--input", "float32[2,3," + "9" * 5000 + "]"], "dimension 3"),
        (["--input", "float32[4,,6,8]"], "dimension 2 is empty"),
        (["--input", "float32[4,6,]"], "dimension 3 is empty"),
        (["--input", "float32[2,3,4]", "--seed", "99999999999999999999999"], "--seed must be"),
        (["--input", "float32[2,3,4]", "--seed", "9" * 5000], "--seed"),
        (["--input", "float32[2,3,4]", "--lr", "inf"], "--lr must be > 0 and finite"),
        (["--input", "float32[2,3,4]", "--lr", "nan"], "--lr must be > 0 and finite"),
        (["--input", "float32[2,3,4]", "--lr", "-0.1"], "--lr must be > 0 and finite"),
        (["--input", "float32[2,3,4]", "--steps", "1000000000000"], "at most 10000"),
        (["--input", "float32[2,3,4]", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_numbers_are_refused_before_the_model_is_built(tmp_path, capsys, target, args, message):
    code, _, err = run(capsys, f"{target}:build", *args, "--out", tmp_path / "o")
    assert_one_line(code, err, message)
    assert not (tmp_path / "factory-called").exists() and not (tmp_path / "o").exists()


def test_input_larger_than_memory_is_refused_before_allocating(tmp_path, capsys, target):
    for spec in (
        "float32[100000,1000,100000]",  # 40 TB: beyond any machine
        f"float64[{available_bytes() // 8 + 1},1,1]",  # one element past what is free now
    ):
        code, _, err = run(capsys, f"{target}:build", "--input", spec, "--out", tmp_path / "o")
        assert_one_line(code, err, "of memory available")


def test_out_that_cannot_be_created_is_refused_before_any_work(tmp_path, capsys, target):
    (tmp_path / "file").write_text("not a folder")
    for out, message in [
        (tmp_path / "file" / "o", "is not a directory"),
        (tmp_path / "file", "exists and is not a directory"),
        (tmp_path / ("x" * 300) / "o", "File name too long"),
        (tmp_path / "ok" / ("y" * 300), "File name too long"),
        ("/proc/no-such-folder/o", "cannot write in /proc"),
    ]:
        code, _, err = run(capsys, f"{target}:build", "--input", "float32[2,3,4]", "--out", out)
        assert_one_line(code, err, message)
    assert not (tmp_path / "factory-called").exists()  # refused before the model was built
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "hostile.py"]


def test_read_only_out_is_refused_before_any_work(tmp_path, capsys, target):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user (root) may write a read-only folder")
        code, _, err = run(
            capsys, f"{target}:build", "--input", "float32[2,3,4]", "--out", folder / "o"
        )
    finally:
        folder.chmod(0o755)
    assert_one_line(code, err, "cannot write in")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("exits", "calling exits() failed: sys.exit('no GPU here, giving up') called"),
        ("exits_in_forward", "the model's code: sys.exit(3) called"),
    ],
)
def test_sys_exit_in_user_code_is_named(tmp_path, capsys, target, factory, message):
    code, _, err = run(
        capsys, f"{target}:{factory}", "--input", "float32[2,3,4]", "--out", tmp_path / "o"
    )
    assert_one_line(code, err, message)
    assert f"{target}:" in err  # the user's line


@pytest.mark.parametrize("factory", ["hangs", "hangs_in_forward"])
def test_ctrl_c_in_a_hanging_factory_or_forward_exits_130(tmp_path, target, factory):
    command = [sys.executable, "-m", "diagnostics", f"{target}:{factory}"]
    command += ["--input", "float32[2,3,4]", "--out", str(tmp_path / "o")]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + START_S
        while not (tmp_path / "started").exists() and child.poll() is None:
            assert time.monotonic() < deadline, "the user's code never started"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=COMMAND_S)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err.strip() == "diagnostics: interrupted (Ctrl-C); files already written are kept"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "0"], "argument --every: must be >= 1, got 0"),
        (["--healthy", "-1"], "argument --healthy: must be >= 0, got -1"),
        (["--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
        (["--out", "/proc/no-such-folder/e.json"], "cannot write in /proc"),
        (["--out", "{tmp}"], "exists and is not a regular file"),
        (["--out", "{tmp}/" + "z" * 300 + "/e.json"], "File name too long"),
    ],
)
def test_evaluate_refuses_bad_arguments_before_running(tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    code, out, err = run(capsys, "evaluate", *args)
    assert_one_line(code, err, message)
    assert out == ""  # refused before the corpus ran (it prints its table first)
