"""Runs as data: run files and partial files as one tidy ``pandas.DataFrame``.

:func:`load_runs` gives one row per case and run. Columns, in order:

- run: ``run_id`` (``rnnref.run_id``, else the file name), ``started`` (UTC
  timestamp of the run), ``preset``, ``source`` (the path as given),
  ``partial`` (a partial file from an unfinished run), ``machine`` (the
  fingerprint, see :func:`fingerprint`), ``machine_label`` (the same in
  words), ``torch``, ``numpy``, ``python`` (versions), ``peak_gflops``,
  ``load_start`` and ``load_end`` (1-minute load average at start and end);
- case: ``case`` (the case id) and the key fields
  :data:`reports.runfile.KEY_FIELDS`;
- measurement: ``module``, ``threads``, ``median``, ``iqr`` (seconds),
  ``rounds``, ``timings`` (how many raw timings the file holds),
  ``rel_err``, ``gflops``, ``pct_peak``, ``noisy`` (IQR above
  :data:`reports.cases.NOISY_IQR` of the median), and ``data`` (the raw
  timings in seconds, a list per row).

Values a file lacks are missing (``None``/NaN), never guessed.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

import pandas as pd

from reports.cases import flat_rows
from reports.errors import CannotWrite
from reports.output import check_output, write_atomic
from reports.runfile import KEY_FIELDS, BadRunFile, load_run

RUN_COLUMNS = (
    "run_id",
    "started",
    "preset",
    "source",
    "partial",
    "machine",
    "machine_label",
    "torch",
    "numpy",
    "python",
    "peak_gflops",
    "load_start",
    "load_end",
)
"""Columns that are the same for every row of one run."""

ROW_COLUMNS = (
    "case",
    *KEY_FIELDS,
    "module",
    "threads",
    "median",
    "iqr",
    "rounds",
    "timings",
    "rel_err",
    "gflops",
    "pct_peak",
    "noisy",
    "data",
)
"""Columns that describe one case of one run."""

COLUMNS = RUN_COLUMNS + ROW_COLUMNS


def fingerprint(run: dict[str, Any]) -> tuple[str, str]:
    """``(id, label)`` of the kind of machine a run was measured on.

    The fingerprint is the hardware only: CPU model, logical cores,
    architecture and GPU name. It leaves out the host name (two VMs of one
    type are one kind of machine) and library versions (a new torch on the
    same machine is exactly what a comparison should see). ``id`` is the
    first 12 hex digits of the SHA-1 of those values; ``label`` says them in words.
    """
    machine = run.get("machine_info") or {}
    cpu = machine.get("cpu") or {}
    parts = {
        "cpu": cpu.get("brand_raw") or machine.get("processor") or None,
        "cores": cpu.get("count"),
        "arch": machine.get("machine") or cpu.get("arch") or None,
        "gpu": run["rnnref"].get("gpu") or None,
    }
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    words = [str(parts["cpu"] or "unknown CPU")]
    if parts["cores"] is not None:
        words.append(f"{parts['cores']} cores")
    words += [str(v) for v in (parts["arch"], parts["gpu"]) if v]
    return digest, ", ".join(words)


def _version(versions: dict[str, Any], name: str) -> str | None:
    for key, value in versions.items():
        if key.lower() == name and value is not None:
            return str(value)
    return None


def run_frame(run: dict[str, Any]) -> pd.DataFrame:
    """The rows of one loaded run (from :func:`reports.runfile.load_run`) as a frame."""
    meta = run["rnnref"]
    machine, label = fingerprint(run)
    versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
    python = _version(versions, "python") or (run.get("machine_info") or {}).get("python_version")
    load = meta.get("load_average") if isinstance(meta.get("load_average"), dict) else {}
    started = pd.to_datetime(run.get("datetime"), utc=True, errors="coerce")
    shared = {
        "run_id": meta.get("run_id") or _stem(run["source"]),
        "started": started,
        "preset": meta.get("preset"),
        "source": run["source"],
        "partial": bool(run.get("partial")),
        "machine": machine,
        "machine_label": label,
        "torch": _version(versions, "torch"),
        "numpy": _version(versions, "numpy"),
        "python": python,
        "peak_gflops": meta.get("peak_gflops"),
        "load_start": load.get("start"),
        "load_end": load.get("end"),
    }
    records = []
    for row in flat_rows(run):
        data = row["data"] if isinstance(row["data"], list) else None
        records.append(
            {
                **shared,
                **{f: row.get(f) for f in ROW_COLUMNS},
                "case": row.get("case") or row["name"],
                "timings": len(data) if data else 0,
                "data": data,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame["started"] = pd.to_datetime(frame["started"], utc=True)
    numbers = ["peak_gflops", "load_start", "load_end", "iqr", "rel_err", "gflops", "pct_peak"]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce")
    return frame


def _stem(source: str) -> str:
    return pathlib.Path(source).name.removesuffix(".jsonl").removesuffix(".json")


def load_runs(*paths: pathlib.Path | str) -> pd.DataFrame:
    """Run files (``.json``) and partial files (``.jsonl``) as one frame, one row per case
    and run, in the order given (columns: :data:`COLUMNS`, see the module docstring).

    Raises:
        reports.runfile.BadRunFile: a file cannot be used (one line naming it), or a
            file holds the same case twice.
    """
    frames = []
    for path in paths:
        frame = run_frame(load_run(path))
        twice = frame.duplicated(list(KEY_FIELDS))
        if twice.any():
            raise BadRunFile(path, f"the case {frame.loc[twice, 'case'].iloc[0]} appears twice")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


def write_table(frame: pd.DataFrame, path: pathlib.Path, form: str) -> None:
    """Write ``frame`` to ``path`` as ``form`` (``csv``: every column but the raw timings;
    ``parquet``: every column), atomically: the file appears complete or not at all.

    Raises:
        CannotWrite: the path cannot be written, or Parquet is asked for without pyarrow.
    """
    path = pathlib.Path(path)
    check_output(path)
    if form == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CannotWrite(path, "writing Parquet needs pyarrow (pip install pyarrow)") from None
    if form == "parquet":
        data = frame.to_parquet(index=False)
    else:
        data = frame.drop(columns="data").to_csv(index=False)
    write_atomic(path, data, "table")
