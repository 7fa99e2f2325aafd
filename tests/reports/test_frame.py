"""reports.load_runs and ``python -m reports table``: run files as one tidy frame."""

from __future__ import annotations

import json
import pathlib

import pandas as pd
import pytest

import reports
from reports.__main__ import main
from reports.frame import COLUMNS, fingerprint
from reports.runfile import KEY_FIELDS, BadRunFile
from tests.reports import runfactory as rf


@pytest.fixture
def two_runs(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    first = rf.run([rf.benchmark(batch=b, seed=b, median=1e-3 * b) for b in (1, 16, 64)])
    first["rnnref"]["run_id"] = "quick-1"
    first["rnnref"]["load_average"] = {"start": 0.5, "end": 1.75}
    second = rf.run([rf.benchmark(batch=b, seed=10 + b, backend="numpy") for b in (1, 16)])
    second["rnnref"]["run_id"] = "quick-2"
    return (
        rf.write(tmp_path / "quick-1.json", first),
        rf.write_partial(tmp_path / "quick-2.partial.jsonl", second, cut_last=True),
    )


def test_one_row_per_case_and_run_with_the_file_values(two_runs: tuple) -> None:
    final, partial = two_runs
    frame = reports.load_runs(final, partial)
    assert list(frame.columns) == list(COLUMNS)
    # the partial file's last line was cut mid-write: its one complete row remains
    assert frame.groupby("run_id").size().to_dict() == {"quick-1": 3, "quick-2": 1}
    doc = json.loads(final.read_text())
    for bench in doc["benchmarks"]:
        row = frame[frame.case == bench["extra_info"]["case"]].iloc[0]
        stats = bench["stats"]
        assert (row["median"], row["iqr"], row["rounds"]) == (stats["median"], stats["iqr"], 25)
        assert row["timings"] == len(stats["data"]) and row["data"] == stats["data"]
        assert row.gflops == bench["extra_info"]["gflops"]
        key = tuple(bench["extra_info"][f] for f in KEY_FIELDS)
        assert tuple(row[f] for f in KEY_FIELDS) == key
    first = frame[frame.run_id == "quick-1"].iloc[0]
    assert (first.load_start, first.load_end, first.partial) == (0.5, 1.75, False)
    assert (first.torch, first.numpy, first.python) == ("2.13.0", "2.4.6", "3.11.2")
    assert first.started == pd.Timestamp("2026-11-30T01:00:00Z")
    assert frame[frame.run_id == "quick-2"].partial.all()
    assert frame.machine.nunique() == 1


def test_the_fingerprint_is_the_hardware_only() -> None:
    base = rf.run([])
    renamed = rf.run([], machine={**rf.MACHINE, "node": "another-vm"}, versions={"torch": "2.14"})
    bigger = rf.run([], machine={**rf.MACHINE, "cpu": {**rf.MACHINE["cpu"], "count": 8}})
    with_gpu = rf.run([])
    with_gpu["rnnref"]["gpu"] = "NVIDIA H200"
    assert fingerprint(base) == fingerprint(renamed)
    assert fingerprint(base)[1] == "Synthetic CPU @ 2.0GHz, 2 cores, x86_64"
    others = {fingerprint(run)[0] for run in (bigger, with_gpu)}
    assert len(others | {fingerprint(base)[0]}) == 3
    assert fingerprint(with_gpu)[1].endswith("NVIDIA H200")


def test_a_file_holding_a_case_twice_is_refused(tmp_path: pathlib.Path) -> None:
    row = rf.benchmark(seed=1)
    path = rf.write(tmp_path / "dup.json", rf.run([row, row]))
    with pytest.raises(BadRunFile, match=r"dup\.json: the case .* appears twice"):
        reports.load_runs(path)


def test_table_prints_and_writes_csv_and_parquet(
    two_runs: tuple, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    final, partial = two_runs
    assert main(["table", str(final), str(partial)]) == 0
    printed = capsys.readouterr().out
    assert "median_ms" in printed.splitlines()[0]
    assert len(printed.splitlines()) == 1 + 4
    csv, parquet = tmp_path / "t.csv", tmp_path / "t.parquet"
    assert main(["table", str(final), str(partial), "--csv", str(csv)]) == 0
    assert main(["table", str(final), str(partial), "--parquet", str(parquet)]) == 0
    expected = reports.load_runs(final, partial)
    from_csv = pd.read_csv(csv)
    assert list(from_csv.columns) == [c for c in COLUMNS if c != "data"]
    assert from_csv["median"].tolist() == expected["median"].tolist()
    from_parquet = pd.read_parquet(parquet)
    assert [list(d) for d in from_parquet["data"]] == expected["data"].tolist()


def test_table_bad_input_is_one_line_and_exit_2(
    two_runs: tuple, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    final, _ = two_runs
    broken = tmp_path / "broken.json"
    broken.write_text(final.read_text()[:300])
    before = final.read_text()
    for argv, text in [
        (["table", str(final), str(broken)], "truncated JSON"),
        (["table", str(tmp_path / "absent.json")], "no such file"),
        (["table", str(final), "--csv", str(final)], "is the input"),
        (["table", str(final), "--csv", str(tmp_path)], "is a directory"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("reports: error: ") and text in err[0], err
    assert final.read_text() == before
