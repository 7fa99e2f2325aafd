"""Common tutorial advice, checked against the rows of one run.

Each check finds the comparisons this run makes possible (cases equal in
everything but the field the claim is about), states what the numbers say
and lists the rows behind it; with no such rows the claim is reported as
"not measured in this run". A difference smaller than :data:`TIE` (5%) of
the slower time is treated as no difference: single-run medians on a laptop
routinely move that much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.cases import SHAPE_FIELDS, shape_label
from reports.render import fmt_ms, fmt_num
from reports.runfile import KEY_FIELDS

TIE = 0.05
"""Relative difference below which two medians count as equal."""

LINEAR_TOLERANCE = 0.10
"""Largest relative residual of a straight-line fit still called linear."""

Row = dict[str, Any]

_BACKEND_BOUND = ("backend", "dtype", "device")
"""Fields that go with the backend (int8 runs in qint8, cudnn on cuda)."""


@dataclass
class Claim:
    """One piece of advice and what this run says about it."""

    title: str
    statement: str
    verdict: str = "not measured in this run"
    summary: str = ""
    columns: list[str] = field(default_factory=list)
    evidence: list[list[str]] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """True when this run has rows that bear on the claim."""
        return bool(self.evidence)


def _verdict(hits: int, total: int) -> str:
    if hits == total:
        return "holds"
    if hits == 0:
        return "does not hold"
    return f"mixed: holds in {hits} of {total}"


def variants(frame: pd.DataFrame, field: str) -> list[dict[Any, pd.Series]]:
    """Groups of rows equal in every key field but ``field``: each maps its value to the row
    (the last row with that value). When ``field`` is ``backend``, dtype and device may
    differ too. Groups with a single value are dropped."""
    if frame.empty:
        return []
    ignore = set(_BACKEND_BOUND) if field == "backend" else {field}
    fixed = [f for f in KEY_FIELDS if f not in ignore]
    groups = []
    for _, group in frame.groupby(fixed, sort=False, dropna=False):
        values = {row[field]: row for _, row in group.iterrows()}
        if len(values) > 1:
            groups.append(values)
    return groups


def _case(row: Row, *omit: str) -> str:
    every = ("cell", "mode", "backend", "batch", *SHAPE_FIELDS)
    fields = [f for f in every if f not in omit]
    return shape_label(row, fields)


def powers_of_two(rows: pd.DataFrame) -> Claim:
    """Batch 2^k against 2^k-1 and 2^k+1, per sequence."""
    claim = Claim(
        "Batch sizes should be powers of two",
        "A batch of 2^k sequences is processed faster per sequence than 2^k-1 or 2^k+1.",
        columns=[
            "case",
            "batch 2^k",
            "other batch",
            "per seq 2^k (ms)",
            "per seq other (ms)",
            "other / 2^k",
        ],
    )
    hits = 0
    for group in variants(rows, "batch"):
        for batch, row in sorted(group.items()):
            if batch < 2 or batch & (batch - 1):
                continue
            for other in (batch - 1, batch + 1):
                if other not in group:
                    continue
                mine = row["median"] / batch
                theirs = group[other]["median"] / other
                ratio = theirs / mine
                hits += ratio > 1 + TIE
                claim.evidence.append(
                    [
                        _case(row, "batch"),
                        str(batch),
                        str(other),
                        fmt_ms(mine),
                        fmt_ms(theirs),
                        fmt_num(ratio),
                    ]
                )
    if claim.evidence:
        total = len(claim.evidence)
        claim.verdict = _verdict(hits, total)
        claim.summary = (
            f"The power-of-two batch was more than {TIE:.0%} cheaper per sequence than its "
            f"neighbour in {hits} of {total} comparisons."
        )
    return claim


def linear_layers(rows: pd.DataFrame) -> Claim:
    """Median against num_layers, fitted by a straight line (needs 3 or more layer counts)."""
    claim = Claim(
        "Cost grows linearly with layers",
        "Each added layer adds about the same time (a straight line in num_layers).",
        columns=["case", "layers", "median (ms)", "added per layer (ms)", "largest deviation"],
    )
    hits = 0
    for group in variants(rows, "num_layers"):
        if len(group) < 3:
            continue
        layers = np.array(sorted(group), dtype=float)
        times = np.array([group[n]["median"] for n in sorted(group)])
        slope, intercept = np.polyfit(layers, times, 1)
        deviation = float(np.max(np.abs(times - (intercept + slope * layers)) / times))
        hits += deviation <= LINEAR_TOLERANCE
        row = group[min(group)]
        claim.evidence.append(
            [
                _case(row, "num_layers"),
                ", ".join(str(int(n)) for n in layers),
                ", ".join(fmt_ms(t) for t in times),
                fmt_ms(slope),
                f"{deviation:.1%}",
            ]
        )
    if claim.evidence:
        total = len(claim.evidence)
        claim.verdict = _verdict(hits, total)
        claim.summary = (
            f"A straight line fits within {LINEAR_TOLERANCE:.0%} in {hits} of {total} "
            "case(s) measured at three or more layer counts."
        )
    return claim


def _pairwise(
    rows: pd.DataFrame,
    field_name: str,
    first: Any,
    second: Any,
    keep: Callable[[Row], bool],
) -> list[tuple[Row, Row]]:
    pairs = []
    for group in variants(rows, field_name):
        if first in group and second in group and keep(group[first]):
            pairs.append((group[first], group[second]))
    return pairs


def gru_vs_lstm(rows: pd.DataFrame) -> Claim:
    """GRU against LSTM on the same backend and shape."""
    claim = Claim(
        "GRU is cheaper than LSTM",
        "With three gates instead of four, a GRU takes less time than an LSTM of the same size.",
        columns=["case", "GRU (ms)", "LSTM (ms)", "GRU / LSTM"],
    )
    pairs = _pairwise(rows, "cell", "gru", "lstm", lambda r: True)
    hits = 0
    for gru, lstm in pairs:
        ratio = gru["median"] / lstm["median"]
        hits += ratio < 1 - TIE
        claim.evidence.append(
            [_case(gru, "cell"), fmt_ms(gru["median"]), fmt_ms(lstm["median"]), fmt_num(ratio)]
        )
    if pairs:
        ratios = [g["median"] / lstm["median"] for g, lstm in pairs]
        claim.verdict = _verdict(hits, len(pairs))
        claim.summary = (
            f"GRU was more than {TIE:.0%} faster in {hits} of {len(pairs)} comparisons "
            f"(median GRU/LSTM time ratio {np.median(ratios):.2f})."
        )
    return claim


def packing(rows: pd.DataFrame) -> Claim:
    """Packed against padded layout for batches with variable lengths (fill < 1)."""
    claim = Claim(
        "Packing saves time on variable lengths",
        "When sequences in a batch have different lengths (fill < 1), packing them is faster "
        "than running the padded batch.",
        columns=["case", "fill", "padded (ms)", "packed (ms)", "padded / packed"],
    )
    pairs = _pairwise(rows, "layout", "packed", "padded", lambda r: r["fill"] < 1)
    hits = 0
    pairs.sort(key=lambda pair: (_case(pair[0], "layout", "fill"), pair[0]["fill"]))
    for packed, padded in pairs:
        speedup = padded["median"] / packed["median"]
        hits += speedup > 1 + TIE
        claim.evidence.append(
            [
                _case(packed, "layout", "fill"),
                fmt_num(packed["fill"]),
                fmt_ms(padded["median"]),
                fmt_ms(packed["median"]),
                fmt_num(speedup),
            ]
        )
    if pairs:
        claim.verdict = _verdict(hits, len(pairs))
        claim.summary = (
            f"Packing was more than {TIE:.0%} faster than padding in {hits} of {len(pairs)} "
            "comparisons with fill below 1."
        )
    return claim


def int8_inference(rows: pd.DataFrame) -> Claim:
    """int8 dynamic quantization against torch eager, inference only."""
    claim = Claim(
        "int8 makes inference faster",
        "Dynamic int8 quantization speeds up inference over float32 torch eager.",
        columns=["case", "torch (ms)", "int8 (ms)", "speedup", "int8 rel. error"],
    )
    pairs = _pairwise(rows, "backend", "int8", "torch", lambda r: r["mode"] == "inference")
    hits = 0
    for int8, torch_row in pairs:
        speedup = torch_row["median"] / int8["median"]
        hits += speedup > 1 + TIE
        claim.evidence.append(
            [
                _case(int8, "backend"),
                fmt_ms(torch_row["median"]),
                fmt_ms(int8["median"]),
                fmt_num(speedup),
                fmt_num(int8.get("rel_err")),
            ]
        )
    if pairs:
        claim.verdict = _verdict(hits, len(pairs))
        claim.summary = (
            f"int8 was more than {TIE:.0%} faster than torch eager in {hits} of {len(pairs)} "
            "inference comparisons."
        )
    return claim


CHECKS: tuple[Callable[[pd.DataFrame], Claim], ...] = (
    powers_of_two,
    linear_layers,
    gru_vs_lstm,
    packing,
    int8_inference,
)


def check_claims(rows: list[Row] | pd.DataFrame) -> list[Claim]:
    """Every claim in :data:`CHECKS`, checked against ``rows`` (flat rows of one run, as
    :func:`reports.cases.flat_rows` gives them, or its frame from :mod:`reports.frame`)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return [check(frame) for check in CHECKS]
