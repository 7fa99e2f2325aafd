"""Bad arguments: one clear line on stderr, exit 2, no traceback, nothing run."""

import pytest

from .helpers import run_bench


def _assert_one_line_exit_2(done, *words):
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for word in words:
        assert word in lines[0]


def test_unknown_preset(tmp_path):
    _assert_one_line_exit_2(run_bench("--preset", "fast", "--out", str(tmp_path)), "fast", "smoke")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("expr", "word"), [("lstm and (", "bad --filter"), ("nothing_like_this", "matches no case")]
)
def test_bad_filter(tmp_path, expr, word):
    _assert_one_line_exit_2(
        run_bench("--preset", "smoke", "--filter", expr, "--out", str(tmp_path)), word
    )


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _assert_one_line_exit_2(
        run_bench("--preset", "smoke", "--out", str(blocker / "sub")), "output directory"
    )


def test_unknown_option():
    _assert_one_line_exit_2(run_bench("--presets", "smoke"), "unrecognized")


@pytest.mark.parametrize(
    ("case_id", "word"),
    [
        ("lstm-fast", "malformed case id"),
        ("lstm-inference-tensorflow-b1-t2-i2-h2-l1-uni-padded-f1", "unknown backend"),
        ("lstm-training-int8-b1-t2-i2-h2-l1-uni-padded-f1", "inference-only"),
    ],
)
def test_profile_bad_case(tmp_path, case_id, word):
    _assert_one_line_exit_2(run_bench("profile", case_id, "--out", str(tmp_path)), word)
