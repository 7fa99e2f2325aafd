"""Output paths: refuse the ones that must not or cannot be written, and write atomically.

DESIGN.md: "An output path that is one of the inputs, or exists and is not a
regular file, is refused." A refused or failed write raises
:class:`reports.errors.CannotWrite` (one line, exit 2) and leaves every file as
it was: the text goes to a temporary file in the same folder, which replaces
the output in one ``os.replace`` only once it is complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import tempfile
from collections.abc import Iterable

from reports.errors import CannotWrite


def check_output(out_path: pathlib.Path, inputs: Iterable[pathlib.Path] = ()) -> None:
    """Fail early, before any work, when ``out_path`` must not or cannot be written.

    Raises:
        CannotWrite: the path is one of ``inputs`` (also through a symlink or a
            hard link), exists and is not a regular file (a folder, a device, a
            FIFO), its name is too long, or its folder is a file or not writable.
    """
    out_path = pathlib.Path(out_path)
    try:
        mode = os.stat(out_path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise CannotWrite(out_path, f"cannot write the report ({exc.strerror})") from None
    if mode is not None:
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(out_path, source):
                    raise CannotWrite(out_path, f"is the input {source}; give another output path")
        if stat.S_ISDIR(mode):
            raise CannotWrite(out_path, "is a directory; give a file name")
        if not stat.S_ISREG(mode):
            raise CannotWrite(out_path, "exists and is not a regular file; refusing to replace it")
    folder = _existing_parent(out_path)
    if not folder.is_dir():
        raise CannotWrite(out_path, f"cannot write the report ({folder} is not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CannotWrite(out_path, f"cannot write the report (folder {folder} is not writable)")


def _existing_parent(path: pathlib.Path) -> pathlib.Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return pathlib.Path(".")


def write_atomic(out_path: pathlib.Path, text: str | bytes, what: str = "report") -> None:
    """Write ``text`` (a str as UTF-8, or bytes) to ``out_path`` through a temporary file
    in the same folder.

    The parent folder is created if missing. The file appears complete or not at
    all: an existing file is never left half-written, and on any error (or
    KeyboardInterrupt) the temporary file is removed.

    Raises:
        CannotWrite: the path is not a regular file, or the folder cannot be
            created or written (disk full, read-only, name too long, ...).
    """
    out_path = pathlib.Path(out_path)
    check_output(out_path)
    tmp = None
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rnnref-", suffix=".tmp", dir=out_path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out_path)
    except BaseException as exc:  # also Ctrl-C: no temporary file is left behind
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CannotWrite(out_path, f"cannot write the {what} ({exc.strerror})") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
