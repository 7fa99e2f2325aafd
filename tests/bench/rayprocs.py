"""The processes of one test's Ray instances, told apart from any other Ray on the machine.

A test gives its Ray its own ``RAY_TMPDIR`` (:func:`private_ray_env`): its sessions, sockets
and address file live there (so ``ray.init()`` elsewhere does not find this instance), and
every process it starts (GCS, raylets, workers, the parts they run) inherits the variable,
which is how :func:`processes_with` finds them, even when they outlive their parent.
"""

import contextlib
import os
import pathlib
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator

from tests.hang_guard import START_S


@contextlib.contextmanager
def private_ray_env() -> Iterator[str]:
    """Set ``RAY_TMPDIR`` to a new short folder (Ray's socket paths must stay under 108
    characters) for the ``with`` block, and remove the folder after; yields its path."""
    folder = tempfile.mkdtemp(prefix="rnnref-ray-", dir="/tmp")
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = folder
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(folder, ignore_errors=True)


def processes_with(folder: str) -> dict[int, list[str]]:
    """``pid -> command line`` of the processes started with ``RAY_TMPDIR=folder``."""
    marker = f"RAY_TMPDIR={folder}".encode()
    found = {}
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if marker in environ and int(proc.name) != os.getpid():
            found[int(proc.name)] = [part.decode(errors="replace") for part in cmdline if part]
    return found


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` (None once it is gone)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def gone(pids: set[int], within_s: float) -> set[int]:
    """Wait up to ``within_s`` (a hang guard) for ``pids`` to end; those still running."""
    deadline = time.monotonic() + within_s
    left = {pid for pid in pids if pathlib.Path(f"/proc/{pid}").exists()}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {pid for pid in left if pathlib.Path(f"/proc/{pid}").exists()}
    return left


def end_left_over(folder: str, within_s: float = START_S) -> dict[int, list[str]]:
    """After a Ray instance was stopped: wait up to ``within_s`` for its processes to end,
    kill those still there (by pid) so a failing test leaves none behind, and return them."""
    left = processes_with(folder)
    still = gone(set(left), within_s)
    for pid in still:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return {pid: left[pid] for pid in still}
