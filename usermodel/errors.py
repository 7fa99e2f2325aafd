"""The one error a command turns into exit 2.

A :class:`UsageError` means the target, its checkpoint or its input cannot be
used; ``str()`` is one line saying what failed and where, with the user's own
exception message. The command prints it on stderr without a traceback
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import traceback

import torch

from rnnref_cli.command import CommandError

_SUITE = tuple(
    os.path.join(os.path.dirname(os.path.dirname(__file__)), package) + os.sep
    for package in ("usermodel", "diagnostics", "bench", "rnnref", "reports")
)
_EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "diagnostics", "examples")
_TORCH = os.path.dirname(torch.__file__)


class UsageError(CommandError):
    """The target, checkpoint or input cannot be used; ``str()`` is one line."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def user_line(exc: BaseException) -> str:
    """`` (at file:line in function)``: the innermost traceback frame outside torch and this
    suite (the diagnostics examples count as user code) of ``exc`` or, innermost first, of
    the exceptions it was raised from; "" when there is none."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    for error in reversed(chain):
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            name = frame.filename
            ours = name.startswith(_SUITE) and not name.startswith(_EXAMPLES)
            if not (ours or name.startswith(_TORCH) or name.startswith("<")):
                return f" (at {name}:{frame.lineno} in {frame.name})"
    return ""


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``, pointing at the user's own code.

    The location is the innermost traceback frame outside torch and this
    suite (the diagnostics examples count as user code), i.e. the line of the
    user's model that raised, or that called into torch when torch raised.
    A ``SystemExit`` reads ``sys.exit(CODE) called (at ...)``.
    """
    where = user_line(exc)
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r}) called{where}"
    message = one_line(str(exc)) or "(no message)"
    return f"{type(exc).__name__}: {message}{where}"
