"""The one error family the ``python -m reports`` command turns into exit 2.

Every input or output problem a user can cause (a bad run file, a bad
findings file, an output path that cannot be written) is a ReportError whose
``str()`` is one line naming the file and what is wrong.
"""

from __future__ import annotations

import pathlib

from rnnref.command import CommandError


class ReportError(CommandError):
    """A problem with a report's input or output; ``str()`` is one line naming the file."""

    def __init__(self, path: pathlib.Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class CannotWrite(ReportError):
    """The report's output path cannot be written."""


def read_input_text(path: pathlib.Path, error: type[ReportError], kind: str) -> str:
    """The UTF-8 text of an input file (a "run file", a "findings file", ...).

    Raises ``error`` with one line saying what is wrong: missing, a directory,
    unreadable, not UTF-8 text, or empty.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except IsADirectoryError:
        raise error(path, f"is a directory, not a {kind}") from None
    except OSError as exc:
        raise error(path, f"cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(path, f"not a {kind} (not UTF-8 text)") from None
    if not text.strip():
        raise error(path, f"empty file, not a {kind}")
    return text
