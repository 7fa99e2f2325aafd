"""Writing a run: the ``<run-id>.partial.jsonl`` log as rows finish, then ``<run-id>.json``.

Each partial line is one JSON object with exactly one key: ``"header"`` (first line:
``{"rnnref": {...}, "machine_info": {...}}``), ``"benchmark"`` (an entry exactly as in
the final ``"benchmarks"`` list) or ``"skipped"`` (``{"case": ..., "reason": ...}``).
A row timed in several passes gets one ``"benchmark"`` line per pass, each holding all
of its timings so far: a reader keeps the last line of each case. The final file is
pytest-benchmark's JSON layout built from the same entries, plus the top-level
``"rnnref"`` object.

A line is appended whole or not at all: when a write fails (a full disk), the file is
cut back to its last complete line before the error goes on, so a reader of the
partial file never meets half a row (:func:`reports.runfile.load_run` still drops a torn
last line, as files written by older versions can end with one).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest_benchmark
from pytest_benchmark.stats import Stats

from reports.cases import is_noisy, noise_warning


class RunRecorder:
    """Appends partial lines as a run goes, and keeps them to write the final file."""

    def __init__(self, partial_path: pathlib.Path, rnnref: dict[str, Any]) -> None:
        self.partial_path = partial_path
        self.rnnref = dict(rnnref, skipped=[], failed=[], noise_warnings=[])
        self.machine_info: dict[str, Any] = {}
        self._rows: dict[str, dict[str, Any]] = {}
        self.started = datetime.now(timezone.utc).isoformat()
        self._fd = os.open(partial_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def start(self, machine_info: dict[str, Any]) -> None:
        """Write the header line (pytest-benchmark's machine_info is known once pytest runs)."""
        self.machine_info = machine_info
        self._write("header", {"rnnref": self.rnnref, "machine_info": machine_info})

    def _write(self, kind: str, value: Any) -> None:
        append_line(self._fd, json.dumps({kind: value}, default=str))

    @property
    def benchmarks(self) -> list[dict[str, Any]]:
        """The timed rows in the order they were first timed, each with all its timings."""
        return list(self._rows.values())

    def row(self, case_id: str) -> dict[str, Any] | None:
        """The entry recorded so far for ``case_id``, or None."""
        return self._rows.get(case_id)

    def benchmark(self, entry: dict[str, Any]) -> None:
        """A row's timings so far (pytest-benchmark's ``as_dict(include_data=True)``);
        replaces the entry an earlier pass recorded for the same case."""
        self._rows[entry["extra_info"]["case"]] = entry
        self._write("benchmark", entry)

    def add_timings(
        self,
        head: dict[str, Any],
        timings: list[float],
        figures: Callable[[float], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Record one pass of a row, matrix or model alike, and return its entry.

        ``head`` is the row's entry without ``stats`` (:func:`entry_head`); the first
        pass's head is kept. ``timings`` (seconds per call, from :mod:`usermodel.timing`)
        join those of earlier passes and every statistic is recomputed over all of them
        (:func:`merge_timings`); ``figures(median)`` adds what depends on the median
        (throughput) to ``extra_info``, and ``load_average`` is the highest 1-minute load
        seen at the end of its passes (reports.headline flags rows timed on a busy machine).
        """
        earlier = self.row(head["extra_info"]["case"])
        entry = merge_timings(earlier or {**head, "stats": {"data": []}}, timings)
        info = entry["extra_info"]
        entry["extra_info"] = {
            **info,
            **(figures(entry["stats"]["median"]) if figures else {}),
            "load_average": max(os.getloadavg()[0], info.get("load_average", 0.0)),
        }
        self.benchmark(entry)
        return entry

    def skipped(self, case_id: str, reason: str) -> None:
        record = {"case": case_id, "reason": reason}
        self.rnnref["skipped"].append(record)
        self._write("skipped", record)

    def failed(self, case_id: str, error: str) -> None:
        """A row refused by the correctness gate or broken: kept in the final file only."""
        self.rnnref["failed"].append({"case": case_id, "error": error})

    def close(self) -> None:
        os.close(self._fd)

    def final(self, commit_info: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
        """The run file's content: pytest-benchmark's layout with the ``rnnref`` object.

        ``warnings`` (e.g. a busy machine) come first in ``noise_warnings``, then one per
        noisy row.
        """
        self.rnnref["noise_warnings"] = warnings + noise_warnings(self.benchmarks)
        return {
            "machine_info": self.machine_info,
            "commit_info": commit_info,
            "benchmarks": self.benchmarks,
            "datetime": self.started,
            "version": pytest_benchmark.__version__,
            "rnnref": self.rnnref,
        }


def append_line(fd: int, line: str) -> None:
    """Append ``line`` and a newline to the file open at ``fd``, whole or not at all.

    On an OSError (e.g. ENOSPC after part of the line went out) the file is truncated
    back to where the line began, and the error is raised.
    """
    data = (line + "\n").encode("utf-8")
    start = os.lseek(fd, 0, os.SEEK_CUR)
    written = 0
    try:
        while written < len(data):
            written += os.write(fd, data[written:])
    except OSError:
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
        raise


def entry_head(
    name: str,
    fullname: str,
    group: str,
    params: dict[str, Any],
    param: str,
    extra_info: dict[str, Any],
    min_rounds: int,
    max_time: float,
) -> dict[str, Any]:
    """A row's entry as pytest-benchmark's ``Metadata.as_dict`` lays it out, without its
    ``stats``: ``options`` are those of :mod:`usermodel.timing` (each call timed alone with
    perf_counter, GC off, warm-up before the first pass and not counted) and the preset's
    rounds and time per row."""
    return {
        "group": group,
        "name": name,
        "fullname": fullname,
        "params": params,
        "param": param,
        "extra_info": extra_info,
        "options": {
            "disable_gc": True,
            "timer": "perf_counter",
            "min_rounds": min_rounds,
            "max_time": max_time,
            "min_time": 0.0,
            "precision": None,
            "confidence": None,
            "warmup": False,
        },
    }


def merge_timings(row: dict[str, Any], timings: list[float]) -> dict[str, Any]:
    """``row`` (a benchmark entry) with ``timings`` (seconds per call) added to its raw
    data and every statistic recomputed over all of them, as pytest-benchmark computes it
    (one call per round: ``iterations`` 1)."""
    stats = Stats()
    for seconds in [*row["stats"]["data"], *timings]:
        stats.update(seconds)
    return {
        **row,
        "stats": {**row["stats"], **stats.as_dict(), "data": stats.data, "iterations": 1},
    }


def noise_warnings(benchmarks: list[dict[str, Any]]) -> list[str]:
    """One line per noisy row (:func:`reports.cases.is_noisy`)."""
    lines = []
    for entry in benchmarks:
        stats = entry["stats"]
        if is_noisy(stats["median"], stats["iqr"]):
            case = entry["extra_info"]["case"]
            lines.append(noise_warning(case, stats["median"], stats["iqr"], stats["rounds"]))
    return lines


def write_json(path: pathlib.Path, document: Any) -> None:
    """Write ``document`` to ``path`` (via a temporary file, so a reader never sees half)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)
