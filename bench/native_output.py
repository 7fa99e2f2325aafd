"""What native code inside torch writes straight to the process's standard output, captured.

``contextlib.redirect_stdout`` moves Python's ``sys.stdout`` only: oneDNN's verbose lines
and the TorchScript ONNX exporter's graph dump are written by C++ to file descriptor 1.
:func:`captured_stdout` points that descriptor at a temporary file for a block. A path's
build runs in a thread that :func:`bench.model.bounded` may abandon, inside such a block
or before one: :func:`abandon` gives the descriptor back to the console at once and keeps
that thread from taking it again, so the run's own output after it reaches the console.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

_LOCK = threading.Lock()


@dataclass
class _Capture:
    console: int  # a duplicate of the descriptor 1 the capture replaced
    thread: threading.Thread


_active: list[_Capture] = []  # the capture holding descriptor 1: one at most
_abandoned: set[threading.Thread] = set()


@contextlib.contextmanager
def captured_stdout() -> Iterator[IO[str]]:
    """Descriptor 1 writes into the yielded temporary file during the block (read it
    inside the block, after ``seek(0)``). The file stays empty where descriptor 1 is
    someone else's: another capture holds it, or this thread was abandoned."""
    sys.stdout.flush()
    me = threading.current_thread()
    with tempfile.TemporaryFile(mode="w+") as captured:
        with _LOCK:
            capture = None
            if not _active and me not in _abandoned:
                capture = _Capture(os.dup(1), me)
                os.dup2(captured.fileno(), 1)
                _active.append(capture)
        try:
            yield captured
        finally:
            if capture is not None:
                _give_back(capture)


def abandon(thread: threading.Thread) -> None:
    """``thread`` is left running: descriptor 1 goes back to the console now if its
    capture holds it, and its later captures capture nothing."""
    with _LOCK:
        _abandoned.add(thread)
        held = [capture for capture in _active if capture.thread is thread]
    for capture in held:
        _give_back(capture)


def _give_back(capture: _Capture) -> None:
    """End ``capture``, unless it has already ended."""
    with _LOCK:
        if capture not in _active:
            return
        _active.remove(capture)
        os.dup2(capture.console, 1)
        os.close(capture.console)
