"""``python -m bench profile``: a real py-spy flame graph, and the ptrace message."""

import os
import stat

import pytest

from bench import profile as profiling
from bench.profile import PTRACE_FIX, ProfileError, find_py_spy

from .helpers import run_bench

CASE = "lstm-inference-torch-b4-t20-i16-h16-l1-uni-padded-f1"


@pytest.mark.skipif(find_py_spy() is None, reason="py-spy is not installed")
def test_flame_graph_is_written(tmp_path):
    done = run_bench("profile", CASE, "--out", str(tmp_path), "--seconds", "1.5")
    if done.returncode == 1 and "ptrace" in done.stderr:
        pytest.skip("this machine refuses ptrace: " + done.stderr.strip())
    assert done.returncode == 0, done.stderr
    svg = tmp_path / "profiles" / f"{CASE}.svg"
    assert f"flame graph: {svg}" in done.stdout
    text = svg.read_text()
    assert "<svg" in text and "step" in text  # the runner's step shows up in the frames


def test_ptrace_refusal_gives_the_fix(tmp_path, monkeypatch):
    fake = tmp_path / "py-spy"
    fake.write_text(
        "#!/bin/sh\necho 'Error: Permission Denied: Failed to attach (ptrace)' >&2\nexit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(profiling, "find_py_spy", lambda: os.fspath(fake))
    with pytest.raises(ProfileError) as caught:
        profiling.profile(CASE, tmp_path, seconds=0.1)
    assert str(caught.value) == PTRACE_FIX
    assert "\n" not in PTRACE_FIX and "ptrace_scope" in PTRACE_FIX
