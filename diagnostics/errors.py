"""The one error the command turns into exit 2.

A :class:`UsageError` means the target, its checkpoint or its input cannot be
used; ``str()`` is one line saying what failed and where, with the user's own
exception message. The command prints it on stderr without a traceback
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import traceback

import torch


class UsageError(Exception):
    """The target, checkpoint or input cannot be used; ``str()`` is one line."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``, pointing at the user's own code.

    The location is the innermost traceback frame outside torch and this
    package (its examples count as user code), i.e. the line of the user's
    model that raised, or that called into torch when torch raised.
    """
    own = os.path.dirname(__file__)
    examples = os.path.join(own, "examples")
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        ours = name.startswith(own) and not name.startswith(examples)
        if not (ours or name.startswith(os.path.dirname(torch.__file__)) or name.startswith("<")):
            where = f" (at {name}:{frame.lineno} in {frame.name})"
            break
    message = one_line(str(exc)) or "(no message)"
    return f"{type(exc).__name__}: {message}{where}"
