"""``python -m reports -o OUT``: an input, a device, a FIFO or a folder is never replaced,
a bad name is one line with exit 2, and a failed write keeps the old report."""

from __future__ import annotations

import errno
import os
import pathlib
import shutil
import stat

import pytest

from reports.__main__ import main
from tests.reports import runfactory as rf

DATA = pathlib.Path(__file__).with_name("data")


@pytest.fixture
def files(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    return {
        "run": rf.write(tmp_path / "r.json", rf.run([rf.benchmark()])),
        "new": rf.write(tmp_path / "n.json", rf.run([rf.benchmark(seed=1)])),
        "findings": pathlib.Path(
            shutil.copy(DATA / "findings-gru_forecaster.json", tmp_path / "f.json")
        ),
    }


def _commands(files: dict[str, pathlib.Path], out: pathlib.Path) -> list[list[str]]:
    return [
        ["bench", str(files["run"]), "-o", str(out)],
        ["compare", str(files["run"]), str(files["new"]), "-o", str(out)],
        ["diagnose", str(files["findings"]), "-o", str(out)],
    ]


def _refused(argv: list[str], capsys: pytest.CaptureFixture, *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("reports: error: "), err
    for word in words:
        assert word in err
    return err


@pytest.mark.parametrize(
    ("command", "target"),
    [("bench", "run"), ("compare", "run"), ("compare", "new"), ("diagnose", "findings")],
)
@pytest.mark.parametrize("link", ["same path", "symlink", "hard link"])
def test_an_input_is_never_overwritten(
    files: dict, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture, command, target, link
) -> None:
    victim = files[target]
    before = victim.read_bytes()
    out = victim
    if link == "symlink":
        out = tmp_path / "link.html"
        out.symlink_to(victim)
    elif link == "hard link":
        out = tmp_path / "hard.html"
        os.link(victim, out)
    argv = next(a for a in _commands(files, out) if a[0] == command)
    _refused(argv, capsys, str(out), "is the input")
    assert victim.read_bytes() == before
    assert out.is_symlink() == (link == "symlink")


def test_a_fifo_is_not_replaced(files: dict, tmp_path: pathlib.Path, capsys) -> None:
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    for argv in _commands(files, fifo):
        _refused(argv, capsys, str(fifo), "not a regular file")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_device_is_not_replaced(files: dict, capsys: pytest.CaptureFixture) -> None:
    for argv in _commands(files, pathlib.Path("/dev/full")):
        _refused(argv, capsys, "/dev/full", "not a regular file")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_folder_is_refused(files: dict, tmp_path: pathlib.Path, capsys) -> None:
    folder = tmp_path / "some_directory"
    folder.mkdir()
    for argv in _commands(files, folder):
        _refused(argv, capsys, str(folder), "is a directory")
    assert folder.is_dir() and not list(folder.iterdir())


def test_a_name_too_long_is_one_line(files: dict, tmp_path: pathlib.Path, capsys) -> None:
    out = tmp_path / ("x" * 300 + ".html")
    for argv in _commands(files, out):
        _refused(argv, capsys, "too long")


def test_a_long_but_valid_name_is_written(files: dict, tmp_path: pathlib.Path) -> None:
    """The temporary file's name must not be longer than the report's (NAME_MAX is 255).
    (Every report is written by reports.render.write_html: two commands show it.)"""
    out = tmp_path / ("x" * 245 + ".html")
    for argv in _commands(files, out)[:2]:
        assert main(argv) == 0
        assert out.read_text().startswith("<!DOCTYPE html>")
        out.unlink()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_one_line(files: dict, tmp_path: pathlib.Path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        for argv in _commands(files, folder / "out.html"):
            _refused(argv, capsys, "not writable")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), KeyboardInterrupt()],
    ids=["disk full", "ctrl-c"],
)
def test_a_failed_write_keeps_the_old_report(
    files: dict, tmp_path: pathlib.Path, capsys, monkeypatch: pytest.MonkeyPatch, failure
) -> None:
    out = tmp_path / "old.html"
    out.write_text("the old report")

    def fail(fd: int) -> None:
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    for argv in _commands(files, out)[:2]:  # the same write_html as diagnose
        if isinstance(failure, OSError):
            _refused(argv, capsys, str(out), "No space left")
        else:
            assert main(argv) == 130
            assert capsys.readouterr().err == (
                "reports: interrupted (Ctrl-C); an older report at that path is kept\n"
            )
        assert out.read_text() == "the old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "n.json", "old.html", "r.json"]


def test_a_report_gets_the_usual_permissions(files: dict, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "report.html"
    mask = os.umask(0o022)
    try:
        assert main(["bench", str(files["run"]), "-o", str(out)]) == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
