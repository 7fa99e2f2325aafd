"""Bad arguments: one clear line on stderr, exit 2, no traceback, nothing run."""

import pytest

from bench.__main__ import main

from .helpers import run_bench


def _cli(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_exit_2(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


def test_real_entry_point_prints_one_line_and_no_traceback(tmp_path):
    done = run_bench("--preset", "fast", "--out", str(tmp_path))
    assert "Traceback" not in done.stdout + done.stderr
    _assert_one_line_exit_2(done.returncode, done.stderr, "fast", "smoke")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("expr", "word"), [("lstm and (", "bad --filter"), ("nothing_like_this", "matches no case")]
)
def test_bad_filter(tmp_path, capsys, expr, word):
    code, _, err = _cli(capsys, "--preset", "smoke", "--filter", expr, "--out", str(tmp_path))
    _assert_one_line_exit_2(code, err, word)


def test_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = _cli(capsys, "--preset", "smoke", "--out", str(blocker / "sub"))
    _assert_one_line_exit_2(code, err, "output directory")


@pytest.mark.parametrize(
    ("args", "word"),
    [(("--presets", "smoke"), "unrecognized"), (("--threads", "0"), "--threads")],
)
def test_bad_options(capsys, args, word):
    _assert_one_line_exit_2(*_cli(capsys, *args)[::2], word)


@pytest.mark.parametrize(
    ("case_id", "word"),
    [
        ("lstm-fast", "malformed case id"),
        ("lstm-inference-tensorflow-b1-t2-i2-h2-l1-uni-padded-f1", "unknown backend"),
        ("lstm-training-int8-b1-t2-i2-h2-l1-uni-padded-f1", "inference-only"),
    ],
)
def test_profile_bad_case(tmp_path, capsys, case_id, word):
    _assert_one_line_exit_2(*_cli(capsys, "profile", case_id, "--out", str(tmp_path))[::2], word)


def test_profile_needs_a_case(capsys):
    _assert_one_line_exit_2(*_cli(capsys, "profile")[::2], "CASE-ID")
