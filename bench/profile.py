"""``python -m bench profile CASE-ID``: a py-spy flame graph of one case running in a loop.

Writes ``DIR/profiles/<case-id>.svg``, where the bench report (``profiles/`` beside the
run file) links it from the case's row. The case runs in a child process
(``python -m bench.loop CASE-ID --ready``) that imports torch, builds, checks and warms
up the case, then says ``ready``; only then does py-spy attach to it by pid, so the
samples show the loop and not ``import torch``. The flame graph is written to a
temporary name and renamed when the child finished its loop cleanly: a failed or
interrupted profile leaves an earlier graph of the case as it was.

Refused before anything runs: ``--seconds`` not in (0, :data:`MAX_SECONDS`], and a case
whose one call exceeds :data:`MAX_FLOPS` or whose arrays would not fit in the memory
available now (:func:`case_bytes`).
"""

from __future__ import annotations

import math
import pathlib
import shutil
import subprocess
import sys
import tempfile

from bench.backends import BACKENDS
from bench.cases import Case, parse_case_id
from bench.flops import case_flops
from bench.torchmods import unbuildable_reason
from rnnref.cells import cell_type
from rnnref_cli.command import CommandError
from usermodel.memory import available_bytes, describe_bytes

PTRACE_FIX = (
    "py-spy was not allowed to read the benchmark process (ptrace refused). Fix: run as "
    "root (sudo -E python -m bench profile ...), or allow ptrace for your user with "
    "`sudo sysctl kernel.yama.ptrace_scope=0`; in Docker add `--cap-add SYS_PTRACE`."
)
_REFUSED = ("permission denied", "operation not permitted", "ptrace", "eperm")
MAX_SECONDS = 3600.0
"""The longest recording ``--seconds`` may ask for."""
MAX_FLOPS = 10**13
"""The most useful FLOPs one call of a profiled case may take: about 4x the largest case
of the gpu preset; the float64 reference check of such a case already takes minutes."""


class ProfileError(CommandError):
    """Profiling could not be done; ``str()`` is one line saying why and how to fix it
    (the command exits 1: the input was fine, the profiling failed)."""

    code = 1


def find_py_spy() -> str | None:
    """The py-spy executable: beside this Python first (a venv), else on PATH."""
    beside = pathlib.Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def case_bytes(case: Case) -> int:
    """A rough upper estimate of the memory the profiled process needs for ``case``.

    Float64 elements of the input (T, B, I), the per-step states and gates every layer
    and direction keeps for BPTT (T, B, (G + 2) H), the output and its gradient
    (T, B, D H) and the weights (G H (I_l + H)), counted three times: the float64
    reference, the backend's own copy and the gradients.
    """
    directions = 2 if case.bidirectional else 1
    tokens = case.seq_len * case.batch
    gates, hidden = cell_type(case.cell).gate_blocks, case.hidden_size
    layers = case.num_layers
    elements = tokens * (case.input_size + 2 * directions * hidden)
    elements += layers * directions * tokens * (gates + 2) * hidden
    # Weights: layer 0 reads input_size features, each later layer directions * hidden
    # (closed form: a loop over the layers would hang on an absurd layer count).
    inputs = case.input_size + (layers - 1) * directions * hidden
    elements += directions * gates * hidden * (inputs + layers * (hidden + 2))
    return 3 * 8 * elements


def check_size(case: Case) -> None:
    """ValueError if one call of ``case`` is beyond :data:`MAX_FLOPS` or its arrays beyond
    the memory available now."""
    flops = case_flops(case, case.batch * case.seq_len)
    if flops > MAX_FLOPS:
        shown = f"{flops:.3g}" if flops < 10**300 else f"about 10**{int(math.log10(flops))}"
        raise ValueError(
            f"case {case.id} is too large to profile: one call is {shown} FLOPs, "
            f"more than {MAX_FLOPS:.0e}"
        )
    needed, free = case_bytes(case), available_bytes()
    if needed > free:
        raise ValueError(
            f"case {case.id} is too large to profile: it needs about "
            f"{describe_bytes(needed)}, more than the {describe_bytes(free)} of memory available"
        )


def profile(
    case_id: str, out_dir: pathlib.Path, native: bool = False, seconds: float = 10.0
) -> pathlib.Path:
    """Record ``case_id`` under py-spy for ``seconds``; returns the flame graph's path.

    Raises ValueError for bad ``seconds``, a malformed, unknown or too large case (or one
    that cannot run here), OSError when the flame graph cannot be written, and
    ProfileError when py-spy is missing, refused or fails, or the case's process fails.
    KeyboardInterrupt stops both processes and writes nothing.
    """
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ValueError(f"--seconds must be > 0 and at most {MAX_SECONDS:g}, got {seconds:g}")
    case = parse_case_id(case_id)
    if case.backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {case.backend!r} in case id; known: {', '.join(BACKENDS)}"
        )
    reason = unbuildable_reason(case.cell) or BACKENDS[case.backend].skip_reason(case)
    if reason:
        raise ValueError(f"case {case_id} cannot run here: {reason}")
    check_size(case)
    py_spy = find_py_spy()
    if py_spy is None:
        raise ProfileError("py-spy not found; install it with `pip install py-spy`")
    svg = out_dir / "profiles" / f"{case.id}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    partial = svg.with_name(f".{svg.name}.partial")
    partial.touch()  # OSError now (e.g. a name too long) rather than after the recording
    try:
        _record(py_spy, case, partial, native, seconds)
        partial.replace(svg)
    finally:
        partial.unlink(missing_ok=True)
    return svg


def _record(py_spy: str, case: Case, output: pathlib.Path, native: bool, seconds: float) -> None:
    """Start the case's loop, wait for its ``ready`` line, record it by pid until it ends."""
    loop = [sys.executable, "-m", "bench.loop", case.id, "--seconds", repr(seconds), "--ready"]
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(loop, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            if child.stdout.readline().strip() != "ready":
                raise ProfileError(f"the case failed before recording: {_died(child, log)}")
            command = [py_spy, "record", "--pid", str(child.pid), "--format", "flamegraph"]
            command += ["--output", str(output), "--rate", "200"]
            if native:
                command.append("--native")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 and child.poll() is None:  # py-spy failed on a live case
                text = (done.stderr + done.stdout).strip()
                if any(word in text.lower() for word in _REFUSED):
                    raise ProfileError(PTRACE_FIX)
                last = text.splitlines()[-1] if text else f"exit status {done.returncode}"
                raise ProfileError(f"py-spy failed: {last}")
            child.stdout.read()
            if child.wait() != 0:
                raise ProfileError(f"the case failed while recording: {_died(child, log)}")
            if done.returncode != 0:
                raise ProfileError(f"py-spy failed: exit status {done.returncode}")
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()
    if output.stat().st_size == 0:
        raise ProfileError("py-spy wrote an empty flame graph (no sample was taken)")


def _died(child: subprocess.Popen, log) -> str:
    """How the child ended: the last line it wrote on stderr, or its exit status."""
    code = child.wait()
    log.seek(0)
    lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    status = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    return f"{lines[-1]} ({status})" if lines else status
