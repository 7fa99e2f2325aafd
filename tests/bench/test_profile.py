"""``python -m bench profile``: a real py-spy flame graph, refusals, a dead case, Ctrl-C."""

import contextlib
import os
import signal
import stat
import subprocess
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import profile as profiling
from bench.__main__ import main as bench_main
from bench.backends import BACKENDS
from bench.cases import LAYOUTS, MODES, Case, parse_case_id
from bench.profile import PTRACE_FIX, ProfileError, find_py_spy
from rnnref import cell_names
from tests.hang_guard import COMMAND_S, START_S
from tests.terminal import sigint_default
from usermodel.memory import available_bytes

from .helpers import ROOT, bench_command, run_bench

CASE = "lstm-inference-torch-b4-t20-i16-h16-l1-uni-padded-f1"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """``python -m bench profile CASE --seconds 1.5``, run once for the tests that read its
    graph; its output folder and the finished process."""
    if find_py_spy() is None:
        pytest.skip("py-spy is not installed")
    out = tmp_path_factory.mktemp("profile")
    done = run_bench("profile", CASE, "--out", str(out), "--seconds", "1.5")
    if done.returncode == 1 and "ptrace" in done.stderr:
        pytest.skip("this machine refuses ptrace: " + done.stderr.strip())
    return out, done


def test_flame_graph_is_written(profiled):
    out, done = profiled
    assert done.returncode == 0, done.stderr
    svg = out / "profiles" / f"{CASE}.svg"
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


def test_recording_starts_after_import_and_warm_up(profiled):
    out, done = profiled
    assert done.returncode == 0, done.stderr
    text = (out / "profiles" / f"{CASE}.svg").read_text()
    # py-spy launching the loop itself spent about half of a 1.5 s graph in `import torch`
    assert "_find_and_load" not in text and "make_problem" not in text
    assert "step" in text
    assert [p.name for p in (out / "profiles").iterdir()] == [f"{CASE}.svg"]


FAKE_PY_SPY = """#!/bin/sh
# Stands in for py-spy: kills the profiled process ({kill}), writes the graph, exits 0.
out=""; pid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out="$2"; shift 2;;
    --pid) pid="$2"; shift 2;;
    --) shift; "$@" & pid=$!; break;;
    *) shift;;
  esac
done
{kill}
printf '{svg}' > "$out"
exit 0
"""


def fake_py_spy(tmp_path, monkeypatch, kill="kill -9 $pid", svg="<svg>fake</svg>"):
    fake = tmp_path / "py-spy"
    fake.write_text(FAKE_PY_SPY.format(kill=kill, svg=svg))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(profiling, "find_py_spy", lambda: os.fspath(fake))


def test_a_case_that_died_is_not_a_flame_graph(tmp_path, monkeypatch):
    fake_py_spy(tmp_path, monkeypatch)
    svg = tmp_path / "profiles" / f"{CASE}.svg"
    svg.parent.mkdir()
    svg.write_text("an earlier graph")
    with pytest.raises(ProfileError, match=r"the case failed while recording: .*signal 9"):
        profiling.profile(CASE, tmp_path, seconds=5)
    assert svg.read_text() == "an earlier graph"  # kept, not replaced by the broken one
    assert [p.name for p in svg.parent.iterdir()] == [svg.name]


def test_an_empty_flame_graph_is_a_failure(tmp_path, monkeypatch):
    fake_py_spy(tmp_path, monkeypatch, kill="wait", svg="")
    with pytest.raises(ProfileError, match="empty flame graph"):
        profiling.profile(CASE, tmp_path, seconds=0.1)
    assert not (tmp_path / "profiles" / f"{CASE}.svg").exists()


def test_a_case_that_cannot_start_says_why(tmp_path, monkeypatch):
    fake_py_spy(tmp_path, monkeypatch, kill="wait")
    monkeypatch.chdir(tmp_path)
    # The child cannot import bench: a broken package shadows it (installed or not).
    broken = tmp_path / "bench"
    broken.mkdir()
    (broken / "__init__.py").write_text('raise ModuleNotFoundError("No module named x")')
    monkeypatch.setenv("PYTHONPATH", os.fspath(tmp_path))
    with pytest.raises(ProfileError, match=r"failed before recording: .*No module named"):
        profiling.profile(CASE, tmp_path, seconds=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([CASE, "--seconds", "-5"], "--seconds must be > 0"),
        ([CASE, "--seconds", "nan"], "--seconds must be > 0"),
        ([CASE, "--seconds", "inf"], "--seconds must be > 0"),
        ([CASE, "--seconds", "1e9"], "at most 3600"),
        (["lstm-inference-torch-b99999999-t99999999-i256-h256-l1-uni-padded-f1"], "FLOPs"),
        (["gru-training-torch-b" + "9" * 400 + "-t1-i1-h1-l1-uni-padded-f1"], "too large"),
        ([CASE, "--out", "{tmp}/" + "x" * 300], "File name too long"),
        ([CASE, "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_profile_arguments_exit_2_before_running(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setattr(profiling, "find_py_spy", lambda: "/bin/false")  # no recording
    try:
        code = bench_main(["profile", *(a.format(tmp=tmp_path) for a in args)])
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("bench: error: ") and err.count("\n") == 1
    assert message in err and "Traceback" not in err
    assert out == ""


def test_a_case_beyond_the_memory_available_is_refused():
    # rnn_tanh with input and hidden size 1: few FLOPs, but 10**6 x 10**5 steps of state
    case = parse_case_id("rnn_tanh-inference-torch-b1000000-t100000-i1-h1-l1-uni-padded-f1")
    assert profiling.case_bytes(case) > available_bytes()
    with pytest.raises(ValueError, match="of memory available"):
        profiling.check_size(case)


def test_ctrl_c_while_profiling_exits_130_and_keeps_the_earlier_graph(tmp_path):
    svg = tmp_path / "profiles" / f"{CASE}.svg"
    svg.parent.mkdir()
    svg.write_text("an earlier graph")
    child = subprocess.Popen(
        # recording for an hour: only Ctrl-C (or the test's hang guard) ends it, however
        # slowly the machine gets the test to send it
        bench_command("profile", CASE, "--out", str(tmp_path), "--seconds", "3600"),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=sigint_default,
    )
    partial = svg.with_name(f".{svg.name}.partial")
    try:
        deadline = time.monotonic() + START_S
        while not partial.exists() and child.poll() is None:
            assert time.monotonic() < deadline, "profiling never started"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
        _, err = child.communicate(timeout=COMMAND_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, err
    assert (
        err.strip()
        == "bench: interrupted (Ctrl-C); no flame graph written (an earlier one is kept)"
    )
    assert svg.read_text() == "an earlier graph"
    assert [p.name for p in svg.parent.iterdir()] == [svg.name]


_fills = st.sampled_from([1.0, 0.5, 0.25, 0.75, 0.9])
_sizes = st.integers(min_value=1, max_value=4096)
valid_cases = st.builds(
    Case,
    cell=st.sampled_from(cell_names()),
    mode=st.sampled_from(MODES),
    backend=st.sampled_from(sorted(BACKENDS)),
    batch=st.integers(min_value=2, max_value=512),
    seq_len=st.integers(min_value=2, max_value=1000),
    input_size=_sizes,
    hidden_size=_sizes,
    num_layers=st.integers(min_value=1, max_value=8),
    bidirectional=st.booleans(),
    layout=st.sampled_from(LAYOUTS),
    fill=_fills,
)


@given(valid_cases)
def test_case_ids_round_trip(case):
    assert parse_case_id(case.id) == case


_numbers = st.one_of(st.integers(min_value=0, max_value=10**30).map(str), st.just("9" * 5000))
near_ids = st.builds(
    lambda c, m, b, sizes, d, lay, f: (
        f"{c}-{m}-{b}-b{sizes[0]}-t{sizes[1]}-i{sizes[2]}-h{sizes[3]}-l{sizes[4]}-{d}-{lay}-f{f}"
    ),
    st.sampled_from([*cell_names(), "lstm2", ""]),
    st.sampled_from([*MODES, "train"]),
    st.sampled_from([*BACKENDS, "nope", "a-b"]),
    st.lists(_numbers, min_size=5, max_size=5),
    st.sampled_from(["uni", "bi", "tri"]),
    st.sampled_from([*LAYOUTS, "ragged"]),
    st.one_of(st.sampled_from(["1", "0.5", "0", "1.5", "0.5.1", "."]), _numbers),
)


@given(st.one_of(st.text(max_size=80), near_ids))
def test_any_case_id_parses_or_is_refused_with_one_value_error(text):
    """What ``python -m bench profile`` does with a case id before running anything."""
    try:
        case = parse_case_id(text)
        profiling.check_size(case)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert parse_case_id(case.id) == case
