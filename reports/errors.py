"""The one error family the ``python -m reports`` command turns into exit 2.

Every input or output problem a user can cause (a bad run file, a bad
findings file, an output path that cannot be written) is a ReportError whose
``str()`` is one line naming the file and what is wrong.
"""

from __future__ import annotations

import pathlib

from rnnref_cli.command import CommandError


class ReportError(CommandError):
    """A problem with a report's input or output; ``str()`` is one line naming the file."""

    def __init__(self, path: pathlib.Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class CannotWrite(ReportError):
    """The report's output path cannot be written."""


MAX_INPUT_BYTES = 64 * 2**20
"""The largest input file read (a full preset's run file, raw timings included, is a few
MB); more is refused rather than read into memory (``/dev/zero`` would never end)."""


def read_input_text(path: pathlib.Path, error: type[ReportError], kind: str) -> str:
    """The UTF-8 text of an input file (a "run file", a "findings file", ...).

    Raises ``error`` with one line saying what is wrong: missing, a directory,
    unreadable, larger than :data:`MAX_INPUT_BYTES`, not UTF-8 text, or empty.
    A pipe (``<(...)`` in bash) is read like a file.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except IsADirectoryError:
        raise error(path, f"is a directory, not a {kind}") from None
    except OSError as exc:
        raise error(path, f"cannot be read ({exc.strerror})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise error(path, f"more than {MAX_INPUT_BYTES // 2**20} MiB, not a {kind}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(path, f"not a {kind} (not UTF-8 text)") from None
    if not text.strip():
        raise error(path, f"empty file, not a {kind}")
    return text
