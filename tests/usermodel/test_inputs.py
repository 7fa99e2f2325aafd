"""SPEC parsing and data files: good ones load, bad ones raise one clear UsageError."""

import pathlib
import re

import numpy as np
import pytest
import torch

from usermodel.errors import UsageError
from usermodel.inputs import load_tensor, parse_spec


def test_float_spec_samples_the_shape_and_dtype():
    spec = parse_spec("float32[32,50,16]")
    x = spec.sample(torch.Generator().manual_seed(0))
    assert x.shape == (32, 50, 16) and x.dtype == torch.float32
    assert abs(float(x.std()) - 1.0) < 0.05


def test_int_spec_draws_ids_below_the_bound():
    x = parse_spec("int64[32, 40]<1000").sample(torch.Generator().manual_seed(0))
    assert x.shape == (32, 40) and x.dtype == torch.int64
    assert int(x.min()) >= 0 and int(x.max()) < 1000 and int(x.max()) > 900


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("float32(32,50)", "expected dtype"),
        ("float33[3,4]", "unknown dtype 'float33'"),
        ("float32[]", "positive integer"),
        ("float32[3,0,2]", "positive integer"),
        ("int64[3,4]", "need an upper bound"),
        ("float32[3,4]<10", "only applies to integer"),
        ("int64[3,4]<0", "at least 1"),
    ],
)
def test_bad_specs_name_the_problem(text, message):
    with pytest.raises(UsageError, match=message) as err:
        parse_spec(text)
    assert "\n" not in str(err.value)


def test_data_files_load(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", first=x, second=x * 2)
    torch.save(torch.from_numpy(x), tmp_path / "x.pt")
    for name in ("x.npy", "x.npz", "x.pt"):
        loaded, _ = load_tensor(tmp_path / name)
        assert torch.equal(loaded, torch.from_numpy(x)), name
    assert load_tensor(tmp_path / "x.npz")[1].endswith("['first']")


def test_bad_data_files(tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    (tmp_path / "x.csv").write_text("1,2")
    torch.save({"x": torch.zeros(2)}, tmp_path / "dict.pt")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    cases = {
        "missing.npy": "no such file",
        "broken.npy": "cannot be read",
        "x.csv": "unknown suffix",
        "dict.pt": "not a tensor",
        "strings.npy": "not numeric",
    }
    for name, message in cases.items():
        with pytest.raises(UsageError, match=message):
            load_tensor(tmp_path / name)
    (tmp_path / "folder.npy").mkdir()
    for path in (tmp_path / "folder.npy", pathlib.Path("/dev/zero")):
        with pytest.raises(UsageError, match="not a regular file"):
            load_tensor(path)


class _RunsCode:
    # exec, not print: Ray replaces builtins.print in a process that ran ray.init (an
    # earlier test on the same worker), and the pickle then names Ray's function instead
    def __reduce__(self):
        return (exec, ("print('this ran')",))


def test_pickles_that_would_run_code_are_refused_by_name(tmp_path, capsys):
    torch.save(_RunsCode(), tmp_path / "evil.pt")
    with pytest.raises(UsageError, match=r"weights_only=True.*GLOBAL exec") as err:
        load_tensor(tmp_path / "evil.pt")
    assert "\n" not in str(err.value) and "this ran" not in capsys.readouterr().out


def test_zero_size_tensors_and_names_too_long(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((3, 0), np.float32))
    with pytest.raises(UsageError, match=r"shape \(3, 0\) has no element"):
        load_tensor(tmp_path / "empty.npy")
    with pytest.raises(UsageError, match="File name too long"):
        load_tensor(tmp_path / ("x" * 300 + ".npy"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("float32[4,,6,8]", "dimension 2 is empty"),
        ("float32[4,6,]", "dimension 3 is empty"),
        ("float32[2,3]\n", "expected dtype"),
        ("float32[" + "9" * 5000 + "]", "dimension 1"),
        ("int32[3]<4294967296", "at most 2147483648"),
        ("float64[100000,100000,100000]", "of memory available"),
    ],
)
def test_specs_that_used_to_crash_or_pass_silently(text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_spec(text)
