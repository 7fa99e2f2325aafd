"""The one error family the ``python -m reports`` command turns into exit 2.

Every input or output problem a user can cause (a bad run file, a bad
findings file, an output path that cannot be written) is a ReportError whose
``str()`` is one line naming the file and what is wrong.
"""

from __future__ import annotations

import pathlib


class ReportError(Exception):
    """A problem with a report's input or output; ``str()`` is one line naming the file."""

    def __init__(self, path: pathlib.Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class CannotWrite(ReportError):
    """The report's output path cannot be written."""
