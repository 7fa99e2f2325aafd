"""``python -m reports history``: runs in a real SQLite file and a real PostgreSQL server.

The PostgreSQL fixture starts a throwaway cluster (Debian's ``postgresql``
binaries, initdb + pg_ctl) in a temporary folder on a free loopback port,
and skips, saying why, when the binaries are absent or it cannot start.
"""

from __future__ import annotations

import glob
import json
import math
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest

from reports import history
from reports.__main__ import main
from tests.reports import runfactory as rf

BACKENDS = {"numpy": "rnnref.layers.LSTM", "torch": "torch.nn.modules.rnn.LSTM"}
BACKENDS["torchscript"] = "torch.jit._script.RecursiveScriptModule(SeqWrapper/LSTM)"


def _history_runs(
    folder: pathlib.Path, count: int, slow: tuple[str, float] | None = None, seed: int = 0
) -> list[pathlib.Path]:
    """``count`` runs of the same code on one shared machine (the whole run drifting by
    10%, each case by 5%), written in start order; with ``slow = (backend, factor)``
    the last run's rows of that backend slowed by ``factor``."""
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(count):
        machine = math.exp(0.10 * rng.standard_normal())
        rows = []
        for i, (backend, module) in enumerate(BACKENDS.items()):
            for batch in (1, 2, 4, 8, 16, 32):
                median = 1e-4 * batch * (1 + i) * machine * math.exp(0.05 * rng.standard_normal())
                if slow and k == count - 1 and backend == slow[0]:
                    median *= slow[1]
                rows.append(
                    rf.benchmark(
                        backend=backend,
                        module=module,
                        batch=batch,
                        median=median,
                        noise=0.02,
                        rounds=20,
                        seed=1000 * k + 10 * i + batch,
                    )
                )
        doc = rf.run(rows)
        doc["rnnref"]["run_id"] = f"quick-{k:02d}"
        doc["datetime"] = f"2026-11-{k + 1:02d}T01:00:00+00:00"
        paths.append(rf.write(folder / f"quick-{k:02d}.json", doc))
    return paths


def _one_error_line(capsys: pytest.CaptureFixture, *expected: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reports: error: "), err
    for text in expected:
        assert text in err[0], err


def _exercise(url: str, folder: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    """add is idempotent, show passes on same code and fails on a slowed backend."""
    paths = _history_runs(folder, 9)
    assert main(["history", "add", *map(str, paths[:5]), "--db", url]) == 0
    capsys.readouterr()
    assert main(["history", "add", *map(str, paths), "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.count("already stored") == 5 and out.count(": added") == 4
    engine = history.connect(url, create=False)
    stored = history.read(engine)
    assert stored["run_id"].nunique() == 9 and len(stored) == 9 * 18
    report = folder / "history.html"
    assert main(["history", "show", "--db", url, "-o", str(report), "--fail-above", "10"]) == 0
    html = report.read_text()
    assert "Gate passed" in html and "<svg" in html and "quick-08" in html
    slowed = _history_runs(folder / "slow", 10, slow=("numpy", 1.25))[-1]
    assert main(["history", "add", str(slowed), "--db", url]) == 0
    capsys.readouterr()
    assert main(["history", "show", "--db", url, "-o", str(report), "--fail-above", "10"]) == 1
    err = capsys.readouterr().err
    assert "backend numpy (6 cases)" in err
    assert "Gate failed" in report.read_text()


def test_sqlite_history_add_show_and_gate(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "slow").mkdir()
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    _exercise(url, tmp_path, capsys)
    with sqlite3.connect(tmp_path / "h.sqlite") as db:
        assert db.execute("select count(*) from rnnref_runs").fetchone() == (10,)


def test_default_database_is_out_history_sqlite(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (path,) = _history_runs(tmp_path, 1)
    assert main(["history", "add", str(path)]) == 0
    assert (tmp_path / "out" / "history.sqlite").is_file()
    assert main(["history", "show"]) == 0
    assert (tmp_path / "out" / "history.html").is_file()


def test_bad_databases_and_runs_are_one_line_exit_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    (run,) = _history_runs(tmp_path, 1)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("create table invoices (id integer)")
    broken = tmp_path / "broken.json"
    broken.write_text(run.read_text()[:200])
    partial = rf.write_partial(tmp_path / "p.partial.jsonl", json.loads(run.read_text()))
    good = f"sqlite:///{tmp_path / 'good.sqlite'}"
    cases = [
        (["history", "add", str(run), "--db", "nonsense://"], ("nonsense",)),
        (["history", "add", str(run), "--db", "not a url"], ("not a database URL",)),
        (["history", "add", str(run), "--db", f"sqlite:///{garbage}"], ("cannot use",)),
        (["history", "add", str(run), "--db", f"sqlite:///{foreign}"], ("not an rnnref history",)),
        (["history", "show", "--db", f"sqlite:///{tmp_path / 'absent.sqlite'}"], ("no such",)),
        (
            ["history", "show", "--db", f"sqlite:///{garbage}", "-o", str(garbage)],
            ("is the history",),
        ),
        (["history", "add", str(run), "--db", f"sqlite:///{tmp_path}"], ("is a directory",)),
        (["history", "add", str(run), str(broken), "--db", good], ("truncated JSON",)),
        (["history", "add", str(partial), "--db", good], ("partial file",)),
        (
            ["history", "add", str(run), "--db", "postgresql+psycopg://u@127.0.0.1:1/x"],
            ("cannot use the database",),
        ),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        _one_error_line(capsys, *expected)
    # nothing from the refused batch was stored
    engine = history.connect(good, create=True)
    assert history.read(engine).empty
    assert garbage.read_bytes() == b"this is not a database" * 100


def test_interrupted_add_keeps_the_runs_committed(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _history_runs(tmp_path, 3)
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    real = history.runs_table.insert
    calls = []

    def interrupt_third() -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(history.runs_table, "insert", interrupt_third)
    assert main(["history", "add", *map(str, paths), "--db", url]) == 130
    monkeypatch.undo()
    stored = history.read(history.connect(url, create=False))
    assert sorted(stored["run_id"].unique()) == ["quick-00", "quick-01"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; skipped, with the reason,
    when Debian's binaries are absent or it cannot start."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install psycopg[binary])")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = bins[-1] if bins else shutil.which("initdb")
    if not initdb:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    pg_ctl = str(pathlib.Path(initdb).with_name("pg_ctl"))
    # not under pytest's tmp folder: as root that is 0700, closed to the postgres user
    folder = pathlib.Path(tempfile.mkdtemp(prefix="rnnref-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        runuser = shutil.which("runuser")
        if not runuser or shutil.which("id") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root and no 'postgres' user to run the server")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
        folder.chmod(0o755)
    port = _free_port()
    steps = [
        [initdb, "-D", str(data), "-A", "trust", "-U", "rnnref", "--no-sync", "-E", "UTF8"],
        [
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        ],
    ]
    for step in steps:
        done = subprocess.run(prefix + step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"PostgreSQL did not start: {(done.stderr or done.stdout).strip()[-300:]}")
    yield f"postgresql+psycopg://rnnref@127.0.0.1:{port}/postgres"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
        capture_output=True,
        check=False,
    )


def test_postgresql_history_add_show_and_gate(
    postgres_url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "slow").mkdir()
    _exercise(postgres_url, tmp_path, capsys)


def test_hostile_strings_are_escaped_in_the_history_report(tmp_path: pathlib.Path) -> None:
    (path,) = _history_runs(tmp_path, 1)
    doc = json.loads(path.read_text())
    doc["benchmarks"][0]["extra_info"]["case"] = "<script>alert(1)</script>"
    doc["machine_info"]["cpu"]["brand_raw"] = "<img src=x onerror=alert(2)>"
    rf.write(path, doc)
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    assert main(["history", "add", str(path), "--db", url]) == 0
    report = tmp_path / "h.html"
    assert main(["history", "show", "--db", url, "-o", str(report)]) == 0
    html = report.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
