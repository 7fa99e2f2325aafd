"""A history of runs in a SQL database, and the judgement of a machine's newest run.

Storage (SQLAlchemy Core, any database it speaks; the command's default is the SQLite
file ``out/history.sqlite``, :data:`reports.cli.DEFAULT_DATABASE`): three tables,

- ``rnnref_meta`` (``key``, ``value``): ``schema`` = :data:`SCHEMA`, so a
  foreign or newer database is refused instead of written into;
- ``rnnref_runs``: one row per run (``run_id`` primary key, ``started``,
  ``preset``, ``machine`` fingerprint and ``machine_label`` from
  :func:`reports.frame.fingerprint`, ``torch``, ``numpy``, ``python``,
  ``peak_gflops``, ``load_start``, ``load_end``, ``source``);
- ``rnnref_results``: one row per case of a run (``run_id``, ``case``
  primary key; the key fields, ``module``, ``threads``, ``median``, ``iqr``,
  ``rounds``, ``timings``, ``rel_err``, ``gflops``, ``pct_peak``).

Adding a run whose ``run_id`` is stored already changes nothing. Each run
goes in its own transaction, so an interrupted ``add`` keeps the runs before it.

Judgement (:func:`judge`, Conbench-style lookback z-scores), per machine
fingerprint, of its newest run against at most :data:`LOOKBACK` runs before it:

1. ``L[case, run]`` = log median. Each case's baseline is the median of its
   prior runs; each run's **shift** is the median over cases of
   ``L - baseline`` (how the whole machine ran that day); the **residual** is
   ``L - baseline - shift``.
2. A **case** regressed when its newest residual is above ``log(1 + PCT/100)``
   and more than :data:`HISTORY_Z` robust standard deviations (1.4826 x MAD)
   of its own prior residuals (at least those of all the machine's cases
   together, and :data:`MIN_SIGMA`), with at least
   :data:`MIN_HISTORY` prior runs, and the newest run timed it at least
   :data:`reports.compare.GATE_MIN_ROUNDS` times (rows stopped after a few slow
   first calls move by 100x on a shared machine).
3. A **library or backend** regressed when the median residual of its cases
   minus that of the other cases, in the newest run, exceeds the same
   contrast's history by both measures (its spread taken as at least
   :data:`reports.compare.GROUP_DRIFT`): a change of one library (every torch
   row 1.25x slower) shows there even though it moves the shift too. All its
   cases are then listed.
4. The newest run's shift is reported as machine drift, with its z-score
   against the machine's earlier shifts, and never fails the gate.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from reports.compare import GATE_MIN_ROUNDS, GROUP_DRIFT, library
from reports.errors import ReportError
from reports.frame import load_runs
from reports.runfile import KEY_FIELDS

SCHEMA = "rnnref-history/1"
"""What a history database holds; stored in its ``rnnref_meta`` table."""

LOOKBACK = 20
"""Most earlier runs of a machine a newest run is judged against."""

MIN_HISTORY = 3
"""Fewest earlier runs of a case (or group) on the machine for a verdict on it."""

HISTORY_Z = 4.0
"""Robust standard deviations of its own history a residual must exceed."""

MIN_SIGMA = 0.02
"""Smallest history spread (log units) a z-score divides by: a few quiet runs do
not make a 3% wobble a regression."""


class HistoryError(ReportError):
    """A history database that cannot be used; ``str()`` is one line naming it."""


metadata = sa.MetaData()

meta_table = sa.Table(
    "rnnref_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

runs_table = sa.Table(
    "rnnref_runs",
    metadata,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("started", sa.DateTime(timezone=True)),
    sa.Column("preset", sa.String(64)),
    sa.Column("machine", sa.String(32), nullable=False, index=True),
    sa.Column("machine_label", sa.Text),
    sa.Column("torch", sa.String(64)),
    sa.Column("numpy", sa.String(64)),
    sa.Column("python", sa.String(64)),
    sa.Column("peak_gflops", sa.Float),
    sa.Column("load_start", sa.Float),
    sa.Column("load_end", sa.Float),
    sa.Column("source", sa.Text),
)

_TYPES = {"batch": sa.Integer, "seq_len": sa.Integer, "input_size": sa.Integer}
_TYPES |= {"hidden_size": sa.Integer, "num_layers": sa.Integer, "bidirectional": sa.Boolean}
_TYPES |= {"fill": sa.Float}

results_table = sa.Table(
    "rnnref_results",
    metadata,
    sa.Column("run_id", sa.String(200), sa.ForeignKey("rnnref_runs.run_id"), primary_key=True),
    sa.Column("case", sa.String(300), primary_key=True),
    *(sa.Column(f, _TYPES.get(f, sa.String(64))) for f in KEY_FIELDS),
    sa.Column("module", sa.Text),
    sa.Column("threads", sa.Integer),
    sa.Column("median", sa.Float, nullable=False),
    sa.Column("iqr", sa.Float),
    sa.Column("rounds", sa.Integer),
    sa.Column("timings", sa.Integer),
    sa.Column("rel_err", sa.Float),
    sa.Column("gflops", sa.Float),
    sa.Column("pct_peak", sa.Float),
)

RUN_COLUMNS = [c.name for c in runs_table.columns]
RESULT_COLUMNS = [c.name for c in results_table.columns]


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def sqlite_path(url: str) -> pathlib.Path | None:
    """The file of a SQLite URL; None for other databases, in-memory ones and bad URLs."""
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return pathlib.Path(parsed.database)


def connect(url: str, create: bool) -> sa.Engine:
    """An engine on the history database at ``url``, checked to be one (or, with
    ``create``, made one when it holds no tables).

    Raises:
        HistoryError: a URL SQLAlchemy cannot parse or has no driver for, a
            database that cannot be reached or read, or one that is not an rnnref
            history (or a newer one).
    """
    where = shown_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError:
        raise HistoryError(url, "not a database URL (e.g. sqlite:///out/history.sqlite)") from None
    path = sqlite_path(url)
    if path is not None:
        if path.is_dir():
            raise HistoryError(where, "is a directory, not a database file")
        if not path.exists() and not create:
            raise HistoryError(where, "no such history database (run 'history add' first)")
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(where, f"cannot create its folder ({exc.strerror})") from None
    try:
        engine = sa.create_engine(parsed)
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise HistoryError(where, f"no database driver for this URL ({exc})") from None
    try:
        with engine.begin() as conn:
            _check(conn, where, create)
    except sa_exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise HistoryError(where, f"cannot use the database ({reason})") from None
    return engine


def _check(conn: sa.Connection, where: str, create: bool) -> None:
    tables = set(sa.inspect(conn).get_table_names())
    ours = {t.name for t in metadata.sorted_tables}
    if not tables & ours:
        if tables:
            raise HistoryError(
                where, "not an rnnref history database (it holds other tables, none of ours)"
            )
        if not create:
            raise HistoryError(where, "empty database: no runs stored (run 'history add')")
        metadata.create_all(conn)
        conn.execute(meta_table.insert().values(key="schema", value=SCHEMA))
        return
    if not ours <= tables:
        raise HistoryError(where, "not an rnnref history database (tables missing)")
    schema = conn.execute(
        sa.select(meta_table.c.value).where(meta_table.c.key == "schema")
    ).scalar()
    if schema != SCHEMA:
        raise HistoryError(where, f"history schema {schema!r}, this reader knows {SCHEMA}")


def _clean(value: Any) -> Any:
    """A frame value as the database takes it: NaN and NaT as NULL, numpy scalars as Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def add(engine: sa.Engine, paths: Iterable[pathlib.Path | str]) -> list[tuple[str, str]]:
    """Store each run file in ``paths``; ``[(run_id, "added" | "already stored")]`` (a run
    with no timed rows is not stored and named by its path).

    Every file is loaded and checked before anything is written; then each run is
    one transaction.

    Raises:
        reports.runfile.BadRunFile: a file cannot be used, or is a partial file.
        HistoryError: the database refused a write.
    """
    paths = list(paths)
    frames = []
    for path in paths:
        frame = load_runs(path)
        if frame["partial"].any() or str(path).endswith(".jsonl"):
            raise ReportError(path, "a partial file from an unfinished run; history keeps runs")
        frames.append(frame)
    done = []
    for path, frame in zip(paths, frames, strict=True):
        if frame.empty:
            done.append((str(path), "no timed rows, nothing stored"))
            continue
        run_id = str(frame["run_id"].iloc[0])
        try:
            with engine.begin() as conn:
                stored = conn.execute(
                    sa.select(runs_table.c.run_id).where(runs_table.c.run_id == run_id)
                ).first()
                if stored:
                    done.append((run_id, "already stored"))
                    continue
                first = frame.iloc[0]
                conn.execute(
                    runs_table.insert().values(
                        **{c: _clean(first[c]) for c in RUN_COLUMNS if c in frame}
                    )
                )
                rows = [
                    {c: _clean(row[c]) for c in RESULT_COLUMNS} for row in frame.to_dict("records")
                ]
                conn.execute(results_table.insert(), rows)
            done.append((run_id, "added"))
        except sa_exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise HistoryError(
                shown_url(str(engine.url)), f"cannot store {run_id} ({reason})"
            ) from None
    return done


def read(engine: sa.Engine) -> pd.DataFrame:
    """Every stored result joined with its run: one row per case and run, by start time."""
    query = sa.select(
        *results_table.columns,
        *(c for c in runs_table.columns if c.name != "run_id"),
    ).join_from(results_table, runs_table)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn)
    except sa_exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise HistoryError(
            shown_url(str(engine.url)), f"cannot read the history ({reason})"
        ) from None
    frame["started"] = pd.to_datetime(frame["started"], utc=True)
    return frame.sort_values(["started", "run_id"], kind="stable").reset_index(drop=True)


@dataclass
class CaseTrend:
    """One case on one machine: its medians run by run and the newest run's verdict."""

    case: str
    backend: str
    library: str
    medians: list[float]
    """Seconds, one per run of the machine in start order (NaN where the run lacks it)."""
    residual: float
    z: float
    history: int
    regressed: bool = False

    @property
    def change(self) -> float:
        """The newest run against the case's baseline, after the run's shift, as a factor."""
        return math.exp(self.residual) if math.isfinite(self.residual) else math.nan


@dataclass
class GroupTrend:
    """A library or backend of one machine: its newest contrast against its history."""

    kind: str
    name: str
    cases: int
    change: float
    z: float
    regressed: bool = False

    def describe(self) -> str:
        """'library torch (20 cases): 1.25x relative to the other rows, z = 9.1'."""
        return (
            f"{self.kind} {self.name} ({self.cases} cases): {self.change:.3f}x relative to the "
            f"other rows against its history (z = {self.z:.1f})"
        )


@dataclass
class MachineHistory:
    """One machine fingerprint: its runs, case trends and the newest run's judgement."""

    machine: str
    label: str
    runs: pd.DataFrame
    """One row per run: run_id, started, preset, torch, numpy, python, load_end, shift."""
    cases: list[CaseTrend] = field(default_factory=list)
    groups: list[GroupTrend] = field(default_factory=list)
    shift_z: float = math.nan

    @property
    def newest(self) -> str:
        """The run judged."""
        return str(self.runs["run_id"].iloc[-1])

    @property
    def shift(self) -> float:
        """The newest run's shift against the machine's history, as a factor."""
        return math.exp(float(self.runs["shift"].iloc[-1]))

    def regressions(self) -> list[str]:
        """Why the newest run failed: groups, then cases not in a regressed group."""
        grouped = {(g.kind, g.name) for g in self.groups if g.regressed}
        lines = [g.describe() for g in self.groups if g.regressed]
        for c in self.cases:
            alone = ("backend", c.backend) not in grouped and ("library", c.library) not in grouped
            if c.regressed and alone:
                lines.append(
                    f"case {c.case}: {c.change:.3f}x its baseline after the run's shift "
                    f"(z = {c.z:.1f} over {c.history} runs)"
                )
        return lines


def _robust_sigma(values: np.ndarray, floor: float = MIN_SIGMA) -> float:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan
    return max(1.4826 * float(np.median(np.abs(values - np.median(values)))), floor)


def judge(frame: pd.DataFrame, percent: float) -> list[MachineHistory]:
    """Each machine's newest run against its history (see the module docstring)."""
    limit = math.log1p(percent / 100)
    found = []
    for machine, rows in frame.groupby("machine", sort=False):
        order = rows.drop_duplicates("run_id")["run_id"].tolist()[-(LOOKBACK + 1) :]
        rows = rows[rows["run_id"].isin(order)]
        logs = np.log(rows.pivot_table(index="case", columns="run_id", values="median"))
        logs = logs[order]
        prior = logs.iloc[:, :-1]
        baseline = prior.median(axis=1)
        shift = (logs.sub(baseline, axis=0)).median(axis=0).fillna(0.0)
        resid = logs.sub(baseline, axis=0).sub(shift, axis=1)
        info = rows.drop_duplicates("case").set_index("case")
        timed = rows[rows["run_id"] == order[-1]].set_index("case")["timings"]
        runs = rows.drop_duplicates("run_id").set_index("run_id").loc[order].reset_index()
        runs = runs[["run_id", "started", "preset", "torch", "numpy", "python", "load_end"]]
        runs["shift"] = shift.values
        history = MachineHistory(str(machine), str(rows["machine_label"].iloc[0]), runs)
        if len(order) > 1:
            past = shift.iloc[:-1].to_numpy()
            history.shift_z = (float(shift.iloc[-1]) - float(np.median(past))) / _robust_sigma(past)
        typical = _robust_sigma(resid.iloc[:, :-1].to_numpy().ravel())
        for case, series in resid.iterrows():
            past = series.iloc[:-1].to_numpy()
            known = int(np.isfinite(past).sum())
            newest = float(series.iloc[-1])
            sigma = _robust_sigma(past, typical)
            z = newest / sigma if known >= MIN_HISTORY and math.isfinite(newest) else math.nan
            row = info.loc[case]
            history.cases.append(
                CaseTrend(
                    str(case),
                    str(row["backend"]),
                    library(row),
                    np.exp(logs.loc[case]).tolist(),
                    newest,
                    z,
                    known,
                    regressed=bool(
                        z > HISTORY_Z and newest > limit and timed.get(case, 0) >= GATE_MIN_ROUNDS
                    ),
                )
            )
        history.groups = _groups(resid, info, limit)
        grouped = {(g.kind, g.name) for g in history.groups if g.regressed}
        for c in history.cases:
            if ("backend", c.backend) in grouped or ("library", c.library) in grouped:
                c.regressed = c.regressed or math.isfinite(c.residual)
        found.append(history)
    return found


def _groups(resid: pd.DataFrame, info: pd.DataFrame, limit: float) -> list[GroupTrend]:
    """Each library and backend's contrast with the other cases, newest run against history."""
    members: dict[tuple[str, str], list[str]] = {}
    for case in resid.index:
        row = info.loc[case]
        members.setdefault(("backend", str(row["backend"])), []).append(case)
        members.setdefault(("library", library(row)), []).append(case)
    backend_sets = {tuple(v) for (kind, _), v in members.items() if kind == "backend"}
    found = []
    for (kind, name), cases in members.items():
        if kind == "library" and tuple(cases) in backend_sets:
            continue
        others = resid.index.difference(cases)
        if len(cases) < 3 or len(others) < 3:
            continue
        contrast = resid.loc[cases].median(axis=0) - resid.loc[others].median(axis=0)
        past = contrast.iloc[:-1].to_numpy()
        if int(np.isfinite(past).sum()) < MIN_HISTORY or not math.isfinite(contrast.iloc[-1]):
            continue
        moved = float(contrast.iloc[-1]) - float(np.nanmedian(past))
        z = moved / _robust_sigma(past, GROUP_DRIFT)
        found.append(
            GroupTrend(kind, name, len(cases), math.exp(moved), z, z > HISTORY_Z and moved > limit)
        )
    return found
