"""Compare two runs case by case: NEW/BASE median ratio with a bootstrap interval.

Statistics, per case present in both runs (joined on the full key
:data:`reports.runfile.KEY_FIELDS`):

- **ratio** = median(NEW timings) / median(BASE timings), from the raw
  per-round timings pytest-benchmark keeps in ``stats.data``;
- **interval**: percentile bootstrap of that ratio. Each run's timings are
  resampled with replacement on their own (:data:`RESAMPLES` times; the
  resampled medians are drawn exactly from order-statistic distributions, see
  :func:`bootstrap_medians`, so long timing series cost nothing extra), the
  ratio of the resampled medians is taken each time, and the
  :data:`CONFIDENCE` interval is read off its quantiles. The generator is
  seeded from the case key, so a case gets the same interval whatever else
  is in the runs, and reports are reproducible;
- **drift between the runs**: the bootstrap only sees the spread inside each
  run. Two runs of the same code on the same machine also differ as a whole
  (other load, frequency, memory placement) and case by case, by more than
  that spread. Both are read off the comparison itself (:func:`run_drift`):
  first the shortest interval holding half of the log ratios (the "shorth":
  it lies among the unchanged cases as long as they are most of them, even
  when a block of changed cases sits to one side) gives a centre and a
  spread (its width / 1.349, a standard deviation for normal noise); then,
  on the cases within ``SPREAD_Z`` such spreads of that centre, the **shift**
  is their median ratio and the **spread** the robust standard deviation
  (1.4826 x median absolute deviation) of their log ratios. A changed block
  thus neither moves the shift nor widens the spread it is judged by. This
  needs at least :data:`DRIFT_MIN_CASES` shared cases, most of them
  unchanged; with fewer cases the shift is taken as 1 and the spread as 0;
- **verdict**, on the ratio relative to the shift: ``slower`` when the
  interval divided by the shift lies wholly above 1 *and* the relative ratio
  exceeds both ``1 + NOISE_FLOOR`` and ``exp(SPREAD_Z * spread)``; ``faster``
  the mirror image; otherwise ``unchanged``. Cases with fewer than
  :data:`MIN_ROUNDS` timings in either run get no interval and stay
  ``unchanged``.

A change that moves every case alike shows as the shift, not in the
verdicts; the report states the shift first and, when it exceeds the noise
floor, says that it may be the change under test.

``--fail-above PCT`` is judged by :meth:`Comparison.gate` (see :class:`Gate`):
against measured noise, per library and backend (:func:`group_shifts`) and
per case, never on the run-wide shift, which is machine drift on a shared machine.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports import environment
from reports.cases import case_label
from reports.environment import MACHINE_LABELS
from reports.frame import run_frame
from reports.runfile import KEY_FIELDS, BadRunFile

RESAMPLES = 5000
"""Bootstrap resamples per case."""

CONFIDENCE = 0.95
"""Coverage of the bootstrap interval."""

NOISE_FLOOR = 0.05
"""Relative change below which a case is unchanged whatever its interval says."""

DRIFT_MIN_CASES = 20
"""Fewest shared cases from which the run-wide shift and spread are estimated."""

SPREAD_Z = 3.0
"""How many robust standard deviations of the between-run spread a case must move,
relative to the shift, to be called faster or slower."""

MIN_ROUNDS = 3
"""Fewest timings per run for which a case gets an interval and a verdict.

With 3 timings the bootstrap interval of a median spans nearly the whole
range of each run, so a verdict needs ranges that do not overlap: cautious,
but still a verdict on a difference that large."""

GATE_MIN_ROUNDS = 10
"""Fewest timings per run for a single case to fail the gate on its own.

Measured on smoke runs of one machine under load: rows that stop after 3 or 4
rounds hold the first, slow calls (80-600 ms against 0.1 ms warm) and move
by 100x-1000x between runs of the same code; their bootstrap interval over
4 values does not see it."""

GATE_CASE_Z = 4.5
"""Between-run spreads a single case must move, relative to the shift, to fail the gate
alone. Measured on 11 smoke runs of one shared VM: of 223 case comparisons of rows
timed 10+ times, 99% moved less than 2.35 spreads slower and none more than 3.52;
a gate over ~50 cases at 3 spreads would still fail about 1 pair in 16."""

GROUP_MIN_CASES = 3
"""Fewest shared cases of a library or backend (and fewest other rows) for it to be judged
as a group."""

GROUP_Z = 3.5
"""Standard errors a group must move, relative to the other rows, to fail the gate."""

GROUP_DRIFT = 0.05
"""Between-run drift of one backend's rows as a whole, on top of their case-by-case
spread (log units): measured 5.7% (root mean square over 44 backend comparisons of
11 smoke runs on one shared 2-core VM, load average 0.4-10)."""

Row = dict[str, Any]


def bootstrap_medians(data: Any, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``resamples`` bootstrap resamples of ``data``, drawn exactly in O(resamples).

    A resample of size n is ``sorted_data[ceil(n * U_i) - 1]`` for n uniform
    ``U_i``; the map is monotone, so its k-th smallest value is
    ``sorted_data[ceil(n * U_(k)) - 1]`` where ``U_(k)``, the k-th smallest of
    n uniforms, is Beta(k, n - k + 1). For even n the next order statistic is
    ``U_(k+1) = U_(k) + (1 - U_(k)) * Beta(1, n - k)``. So the resampled
    median is drawn without building the resample: the same distribution as
    resampling by index, at a cost independent of the number of timings.
    """
    x = np.sort(np.asarray(data, dtype=float))
    n = x.size

    def pick(u: np.ndarray) -> np.ndarray:
        return x[np.clip(np.ceil(n * u).astype(np.int64) - 1, 0, n - 1)]

    k = (n + 1) // 2
    low = rng.beta(k, n - k + 1, size=resamples)
    if n % 2:
        return pick(low)
    high = low + (1 - low) * rng.beta(1, n - k, size=resamples)
    return (pick(low) + pick(high)) / 2


def median_ratio(
    base: Any,
    new: Any,
    seed: int = 0,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """``(ratio, low, high)``: median(new)/median(base) and its bootstrap interval."""
    b = np.asarray(base, dtype=float)
    n = np.asarray(new, dtype=float)
    ratio = float(np.median(n) / np.median(b))
    if min(b.size, n.size) < MIN_ROUNDS:
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ratios = bootstrap_medians(n, resamples, rng) / bootstrap_medians(b, resamples, rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return ratio, float(low), float(high)


@dataclass(frozen=True)
class Drift:
    """How two runs differ as a whole: ``shift`` (median NEW/BASE ratio over ``cases``)
    and ``spread`` (robust standard deviation of the log ratios around it)."""

    shift: float = 1.0
    spread: float = 0.0
    cases: int = 0

    @property
    def estimated(self) -> bool:
        """False when there were too few cases and the defaults stand."""
        return self.cases >= DRIFT_MIN_CASES

    @property
    def band(self) -> float:
        """Relative change (as a factor above 1) a case must exceed to be called changed."""
        return max(1 + NOISE_FLOOR, math.exp(SPREAD_Z * self.spread))


def run_drift(ratios: Any) -> Drift:
    """The shift and spread of the NEW/BASE ``ratios`` of all shared cases, estimated on
    the cases around their shortest half (see the module docstring)."""
    logs = np.sort(np.log(np.asarray(ratios, dtype=float)))
    count = logs.size
    if count < DRIFT_MIN_CASES:
        return Drift(cases=count)
    half = count // 2 + 1
    widths = logs[half - 1 :] - logs[: count - half + 1]
    start = int(np.argmin(widths))
    centre = float(np.median(logs[start : start + half]))
    rough_spread = float(widths[start]) / 1.349
    kept = logs[np.abs(logs - centre) <= SPREAD_Z * rough_spread]
    centre = float(np.median(kept))
    spread = 1.4826 * float(np.median(np.abs(kept - centre)))
    return Drift(math.exp(centre), spread, count)


def classify(ratio: float, low: float, high: float, drift: Drift = Drift()) -> str:
    """``faster``, ``slower`` or ``unchanged`` relative to the run-wide ``drift``
    (see the module docstring)."""
    if math.isnan(low) or math.isnan(high):
        return "unchanged"
    shift, band = drift.shift, drift.band
    if low / shift > 1 and ratio / shift > band:
        return "slower"
    if high / shift < 1 and ratio / shift < 1 / band:
        return "faster"
    return "unchanged"


def key_seed(key: tuple[Any, ...]) -> int:
    """A stable seed for a case key (same key, same seed, in any process)."""
    return zlib.crc32(repr(key).encode())


@dataclass
class CaseResult:
    """One case present in both runs."""

    base: Row
    new: Row
    ratio: float
    low: float
    high: float
    verdict: str
    relative: float
    """The ratio divided by the run-wide shift."""

    @property
    def label(self) -> str:
        """The case in one line."""
        return case_label(self.new)

    @property
    def noisy(self) -> bool:
        """True when either run flagged this row as noisy (:func:`reports.cases.is_noisy`)."""
        return bool(self.base["noisy"] or self.new["noisy"])

    def beyond(self, limit: float, drift: Drift) -> bool:
        """True when the case alone fails the gate: both runs hold at least GATE_MIN_ROUNDS
        timings of it, its verdict is ``slower`` and, relative to the run-wide shift, its
        whole interval lies above ``limit`` and its ratio beyond GATE_CASE_Z spreads."""
        rounds = min(len(self.base["data"]), len(self.new["data"]))
        return (
            rounds >= GATE_MIN_ROUNDS
            and self.verdict == "slower"
            and self.low / drift.shift > limit
            and self.relative > math.exp(GATE_CASE_Z * drift.spread)
        )

    def describe(self) -> str:
        """'case: 1.234x (95% interval 1.2-1.3)'."""
        interval = (
            "no interval (too few timings)"
            if math.isnan(self.low)
            else f"{CONFIDENCE:.0%} interval {self.low:.3f}-{self.high:.3f}"
        )
        noisy = "; noisy row" if self.noisy else ""
        return (
            f"{self.label}: {self.ratio:.3f}x NEW/BASE, {self.relative:.3f}x relative to the "
            f"run-wide shift ({interval}{noisy})"
        )


@dataclass
class Comparison:
    """The whole comparison of two runs."""

    base_source: str
    new_source: str
    env: list[tuple[str, str, str]]
    across_machines: bool
    drift: Drift = Drift()
    cases: list[CaseResult] = field(default_factory=list)
    only_base: list[Row] = field(default_factory=list)
    only_new: list[Row] = field(default_factory=list)
    not_run_base: dict[str, str] = field(default_factory=dict)
    not_run_new: dict[str, str] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        """How many cases have ``verdict``."""
        return sum(c.verdict == verdict for c in self.cases)

    def summary_line(self) -> str:
        """Counts of faster, slower, unchanged and unmatched cases, in one line."""
        return (
            f"{len(self.cases)} cases compared: {self.count('faster')} faster, "
            f"{self.count('slower')} slower, {self.count('unchanged')} unchanged beyond noise; "
            f"{len(self.only_base)} only in BASE, {len(self.only_new)} only in NEW"
            + (f"; {self.drift_line()}" if self.drift.estimated else "")
            + ("; comparison across machines" if self.across_machines else "")
        )

    def drift_line(self) -> str:
        """The run-wide shift and spread in words."""
        return (
            f"run-wide shift {self.drift.shift:.3f}x and spread {self.drift.spread:.1%} "
            f"(from {self.drift.cases} cases), verdicts beyond {self.drift.band:.3f}x of the shift"
        )

    def groups(self) -> list[GroupShift]:
        """How each library and each backend moved relative to the other rows
        (see :func:`group_shifts`)."""
        return group_shifts(self.cases, self.drift)

    def gate(self, percent: float) -> Gate:
        """The ``--fail-above percent`` verdict (see :class:`Gate`)."""
        limit = 1 + percent / 100
        groups = [g for g in self.groups() if g.regressed(limit)]
        in_groups = {id(c) for g in groups for c in g.cases}
        cases = [c for c in self.cases if id(c) in in_groups or c.beyond(limit, self.drift)]
        return Gate(percent, groups, cases, self.drift)

    def regressions(self, percent: float) -> list[str]:
        """Descriptions of the cases :meth:`gate` fails on."""
        return [c.describe() for c in self.gate(percent).cases]


def library(row: Row) -> str:
    """The library that really ran a row: the package of the innermost dotted name in its
    ``module`` (``torch.jit...RecursiveScriptModule(LSTMWrapper/LSTM)`` -> torch,
    ``bench.torchmods.CellLoop(torch.nn...GRUCell)`` -> torch, ``rnnref.layers.LSTM`` ->
    rnnref); the backend's name when the row has no module."""
    names = _DOTTED.findall(str(row.get("module") or ""))
    return names[-1].split(".")[0] if names else str(row["backend"])


_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.\w+)+")


@dataclass
class GroupShift:
    """The rows of one library or one backend, against all other shared rows.

    ``factor`` is exp(median log ratio of the group - median log ratio of the rest):
    how much slower the group got than everything else. ``z`` divides that log
    difference by its standard error: 1.2533 x spread x sqrt(1/n + 1/m) (the
    standard error of a difference of two medians of n and m values with the
    between-run spread of cases around their backend; 1.2533 = sqrt(pi/2)) and
    GROUP_DRIFT (how a backend drifts as a whole), added in quadrature."""

    kind: str
    name: str
    cases: list[CaseResult]
    rest: int
    factor: float
    z: float

    def regressed(self, limit: float) -> bool:
        """Slower than the rest by more than ``limit`` and by more than GROUP_Z standard errors."""
        return self.factor > limit and self.z > GROUP_Z

    def describe(self) -> str:
        """'backend numpy (12 cases): 1.25x slower than the other 40 rows (z = 8.1)'."""
        return (
            f"{self.kind} {self.name} ({len(self.cases)} cases): {self.factor:.3f}x relative to "
            f"the other {self.rest} rows (z = {self.z:.1f}, beyond {GROUP_Z:g})"
        )


def group_shifts(cases: list[CaseResult], drift: Drift) -> list[GroupShift]:
    """A :class:`GroupShift` per library and per backend with at least GROUP_MIN_CASES
    shared cases and at least as many other rows; none when the between-run spread
    could not be measured (fewer than DRIFT_MIN_CASES cases). A library of one
    backend is listed once, as the backend."""
    if not drift.estimated or not cases:
        return []
    logs = np.log([c.ratio for c in cases])
    members: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(cases):
        members.setdefault(("backend", str(c.new["backend"])), []).append(i)
        members.setdefault(("library", library(c.new)), []).append(i)
    residuals = np.concatenate(
        [logs[i] - np.median(logs[i]) for (kind, _), i in members.items() if kind == "backend"]
    )
    spread = max(1.4826 * float(np.median(np.abs(residuals))), NOISE_FLOOR / SPREAD_Z)
    backend_sets = {tuple(v) for (kind, _), v in members.items() if kind == "backend"}
    found = []
    for (kind, name), index in members.items():
        if kind == "library" and tuple(index) in backend_sets:
            continue
        rest = np.setdiff1d(np.arange(len(cases)), index)
        if min(len(index), rest.size) < GROUP_MIN_CASES:
            continue
        diff = float(np.median(logs[index]) - np.median(logs[rest]))
        sampling = 1.2533 * spread * math.sqrt(1 / len(index) + 1 / rest.size)
        error = math.hypot(sampling, GROUP_DRIFT)
        found.append(
            GroupShift(
                kind, name, [cases[i] for i in index], int(rest.size), math.exp(diff), diff / error
            )
        )
    return found


@dataclass
class Gate:
    """What ``--fail-above PCT`` decides, and why.

    It fails on (1) every case of a library or backend that got slower than the
    other rows by more than PCT% and by more than GROUP_Z standard errors of that
    difference (a change of one library moves all its rows; their median is
    judged, so no single row needs to clear the noise alone), and (2) a single
    case whose interval, relative to the run-wide shift, lies wholly above
    1 + PCT/100 and which moved by more than PCT% beyond the between-run band.
    The run-wide shift itself never fails the gate: a whole machine running
    slower (a shared machine, another tenant, frequency) moves every library
    alike; it is reported as machine drift. What moves every library alike (a
    new machine, a new BLAS under both) is therefore not told apart from machine
    drift in one comparison; ``history show`` judges runs against their machine's history.
    """

    percent: float
    groups: list[GroupShift]
    cases: list[CaseResult]
    drift: Drift

    @property
    def passed(self) -> bool:
        """True when nothing regressed."""
        return not self.cases

    def reasons(self) -> list[str]:
        """Why the gate failed (groups first, then single cases), or why it passed."""
        if self.passed:
            return [
                f"no library, backend or case slower by more than {self.percent:g}% beyond noise"
            ]
        grouped = {id(c) for g in self.groups for c in g.cases}
        alone = [c for c in self.cases if id(c) not in grouped]
        lines = [g.describe() for g in self.groups]
        lines += [f"case {c.describe()}" for c in alone]
        return lines

    def machine_drift(self) -> str | None:
        """The run-wide shift as machine drift, in words, when it exceeds the noise floor."""
        shift = self.drift.shift
        if not self.drift.estimated or max(shift, 1 / shift) <= 1 + NOISE_FLOOR:
            return None
        return (
            f"the whole run moved {shift:.3f}x: machine drift (or a change of everything alike), "
            "not counted by the gate"
        )


def _rows(run: dict[str, Any]) -> pd.DataFrame:
    """The run's rows as a frame (:func:`reports.frame.run_frame`), checked for what a
    comparison needs: each case once, and raw timings."""
    frame = run_frame(run)
    twice = frame.duplicated(list(KEY_FIELDS))
    if twice.any():
        label = case_label(frame[twice].iloc[0])
        raise BadRunFile(run["source"], f"the case {label} appears twice")
    bare = frame["timings"] == 0
    if bare.any():
        raise BadRunFile(
            run["source"],
            f"no raw timings (stats.data) for {case_label(frame[bare].iloc[0])}; "
            "comparison needs them",
        )
    return frame


def join(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Outer join of two runs' frames on the full case key: one row per case of either,
    with ``base_row`` and ``new_row`` (each frame's index, or -1 where absent)."""
    keys = list(KEY_FIELDS)
    joined = pd.merge(
        base[keys].assign(base_row=base.index),
        new[keys].assign(new_row=new.index),
        on=keys,
        how="outer",
        sort=False,
    )
    joined[["base_row", "new_row"]] = joined[["base_row", "new_row"]].fillna(-1).astype(int)
    return joined


def not_run(run: dict[str, Any]) -> dict[str, str]:
    """``case id -> why`` for the cases a run skipped or refused (correctness gate)."""
    meta = run["rnnref"]
    reasons = {str(s["case"]): f"skipped: {s['reason']}" for s in meta.get("skipped") or []}
    reasons.update({str(f["case"]): f"refused: {f['error']}" for f in meta.get("failed") or []})
    return reasons


def env_diff(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(label, base value, new value)`` for every environment label of either run."""
    a, b = environment.describe(base), environment.describe(new)
    labels = list(a) + [label for label in b if label not in a]
    return [(label, a.get(label, "—"), b.get(label, "—")) for label in labels]


def compare_runs(base: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """Join ``base`` and ``new`` (loaded runs) on the case key and compare every shared case."""
    base_frame, new_frame = _rows(base), _rows(new)
    base_rows = base_frame.to_dict("records")
    new_rows = new_frame.to_dict("records")
    joined = join(base_frame, new_frame)
    env = env_diff(base, new)
    across = any(label in MACHINE_LABELS and a != b for label, a, b in env)
    result = Comparison(base["source"], new["source"], env, across)
    result.not_run_base, result.not_run_new = not_run(base), not_run(new)
    both = joined[(joined.base_row >= 0) & (joined.new_row >= 0)].sort_values("new_row")
    shared = []
    for b, n in zip(both.base_row, both.new_row, strict=True):
        base_row, new_row = base_rows[b], new_rows[n]
        key = tuple(new_row[f] for f in KEY_FIELDS)
        stats = median_ratio(base_row["data"], new_row["data"], seed=key_seed(key))
        shared.append((base_row, new_row, stats))
    result.drift = drift = run_drift([ratio for _, _, (ratio, _, _) in shared])
    for base_row, new_row, (ratio, low, high) in shared:
        verdict = classify(ratio, low, high, drift)
        result.cases.append(
            CaseResult(base_row, new_row, ratio, low, high, verdict, ratio / drift.shift)
        )
    result.only_new = [new_rows[n] for n in sorted(joined.new_row[joined.base_row < 0])]
    result.only_base = [base_rows[b] for b in sorted(joined.base_row[joined.new_row < 0])]
    result.cases.sort(key=lambda c: -c.ratio)
    return result
