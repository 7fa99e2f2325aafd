"""The headline table: per cell, mode, batch and shape, the fastest exact and lossy backends.

Backends are compared only on identical work (every key field equal but
backend, dtype and device). Two rules keep the headline from misleading:

- **Lossy is reported apart.** A row is *exact* when it computes in float32
  (``numerics`` fp32) and its error against the float64 reference is within the
  fp32 bound the run file records (``rnnref.bounds``, bench's
  ``bench.check.BOUNDS``); rows of any other numerics (int8, fp16, bf16, tf32)
  are *lossy* and are never crowned "fastest": the entry names the fastest lossy
  row separately, with its rel_err.
- **Unreliable rows are left out.** A row timed fewer than :data:`MIN_ROUNDS`
  times, whose IQR is above :data:`UNRELIABLE_IQR` of its median, or timed while
  other processes kept every CPU busy, gives no trustworthy median: it wins
  nothing and no speedup is computed from it (:func:`unreliable` says why).

The speedup is torch eager's median over the winner's median, so 1.0 means
torch eager itself is fastest.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reports.cases import SHAPE_FIELDS, reading_key, shape_label

BASELINE = "torch"
"""The backend speedups are measured against: torch eager on CPU."""

EXACT_NUMERICS = "fp32"
"""The numerics of an exact row; every other (the run file's ``bounds`` lists them with
their bounds) trades accuracy for speed."""

MIN_ROUNDS = 10
"""Fewest raw timings a row needs for its median to count (quick and full give 10 or more)."""

UNRELIABLE_IQR = 0.25
"""IQR / median above which a row's median is too uncertain to rank (a row is already noisy
above :data:`reports.cases.NOISY_IQR`)."""

Row = dict[str, Any]

_LOSSY_DTYPES = {"qint8": "int8", "float16": "fp16", "bfloat16": "bf16"}


def numerics(row: Row) -> str:
    """What the row computes in: its ``numerics`` field, else guessed from dtype and tf32
    (run files written before bench recorded numerics)."""
    if row.get("numerics"):
        return str(row["numerics"])
    if row.get("tf32"):
        return "tf32"
    return _LOSSY_DTYPES.get(str(row.get("dtype")), "fp32")


def is_exact(row: Row, bounds: dict[str, float]) -> bool:
    """fp32 numerics and a known rel_err within ``bounds["fp32"]`` (the run file's
    ``rnnref.bounds``: largest rel_err per numerics)."""
    err = row.get("rel_err")
    return (
        numerics(row) == EXACT_NUMERICS
        and isinstance(err, int | float)
        and err <= bounds[EXACT_NUMERICS]
    )


def unreliable(row: Row, cpus: int | None = None) -> str | None:
    """Why the row's median cannot be trusted, or None.

    ``cpus``: the machine's CPU count (``machine_info.cpu.count``); with it, a row whose
    ``load_average`` (the 1-minute load bench saw while timing it) less its own
    ``threads`` reaches ``cpus`` was timed on a machine busy with other work.
    """
    rounds = row.get("rounds") or 0
    if rounds < MIN_ROUNDS:
        return f"timed {rounds} times (fewer than {MIN_ROUNDS})"
    median, iqr = row.get("median") or 0.0, row.get("iqr")
    if iqr is not None and median > 0 and iqr / median > UNRELIABLE_IQR:
        return f"spread: IQR {iqr / median:.0%} of the median (over {UNRELIABLE_IQR:.0%})"
    load = row.get("load_average")
    if cpus and isinstance(load, int | float) and load - (row.get("threads") or 0) >= cpus:
        return f"machine busy while timed: load {load:.1f} on {cpus} CPUs"
    return None


def mark_unreliable(rows: list[Row], cpus: int | None = None) -> list[Row]:
    """Set ``row["unreliable"]`` (reason or None) on every row; returns the reliable ones."""
    for row in rows:
        row["unreliable"] = unreliable(row, cpus)
    return [row for row in rows if not row["unreliable"]]


def _reason(row: Row, cpus: int | None) -> str | None:
    return row["unreliable"] if "unreliable" in row else unreliable(row, cpus)


def headline(
    rows: list[Row],
    bounds: dict[str, float],
    cpus: int | None = None,
    baseline_backend: str = BASELINE,
) -> list[dict[str, Any]]:
    """One entry per (cell, mode, batch, shape).

    ``bounds``: the run file's ``rnnref.bounds`` (:func:`is_exact`); ``baseline_backend``:
    what speedups are against (``eager`` for a model's paths).

    Each entry: cell, mode, batch, shape (label); fastest and runner_up (the two fastest
    reliable exact rows, or None); baseline (reliable torch eager row or None); speedup
    (baseline / fastest, or None); lossy (the fastest reliable lossy row, or None) and
    lossy_speedup; left_out (``{"backend", "reason"}`` per unreliable row); backends (how
    many rows were compared, reliable or not).
    """
    fields = ("cell", "mode", "batch", *SHAPE_FIELDS)
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[f] for f in fields)].append(row)
    entries = []
    for group in groups.values():
        reasons = {id(r): _reason(r, cpus) for r in group}
        reliable = sorted((r for r in group if not reasons[id(r)]), key=lambda r: r["median"])
        exact = [r for r in reliable if is_exact(r, bounds)]
        lossy = [r for r in reliable if not is_exact(r, bounds)]
        fastest = exact[0] if exact else None
        baseline = next((r for r in exact if r["backend"] == baseline_backend), None)
        first = min(group, key=reading_key)
        entry = {
            "cell": first["cell"],
            "mode": first["mode"],
            "batch": first["batch"],
            "shape": shape_label(first),
            "fastest": fastest,
            "runner_up": exact[1] if len(exact) > 1 else None,
            "baseline": baseline,
            "speedup": _ratio(baseline, fastest),
            "lossy": lossy[0] if lossy else None,
            "lossy_speedup": _ratio(baseline, lossy[0] if lossy else None),
            "left_out": [
                {"backend": r["backend"], "reason": reasons[id(r)]} for r in group if reasons[id(r)]
            ],
            "backends": len(group),
        }
        entries.append((reading_key(first), entry))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def _ratio(baseline: Row | None, row: Row | None) -> float | None:
    if baseline is None or row is None or not row["median"]:
        return None
    return baseline["median"] / row["median"]
