"""A case (one cell of the matrix), its id, and the seeded sequence lengths of its batch.

A case id reads ``CELL-MODE-BACKEND-bB-tT-iI-hH-lL-DIR-LAYOUT-fFILL``, for example
``lstm-inference-torch-b64-t100-i256-h256-l1-uni-padded-f1``; :func:`parse_case_id`
turns it back into a :class:`Case`. A *shape* is the id without mode and backend, as a
user writes it for ``python -m bench --shape``: ``CELL-bB-tT-iI-hH-lL-uni|bi``, optionally
``-packed-fFILL`` or ``-padded-fFILL`` (:func:`parse_shape`).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import asdict, dataclass, replace

import numpy as np

from rnnref.cells import CELL_TYPES, cell_names

MODES = ("inference", "training")
LAYOUTS = ("padded", "packed")

_ID_AFTER_CELL = (
    r"-(?P<mode>inference|training)-(?P<backend>[a-z0-9-]+?)"
    r"-b(?P<batch>\d+)-t(?P<seq_len>\d+)-i(?P<input_size>\d+)-h(?P<hidden_size>\d+)"
    r"-l(?P<num_layers>\d+)-(?P<direction>uni|bi)-(?P<layout>padded|packed)-f(?P<fill>[0-9.]+)$"
)


def _id_pattern() -> re.Pattern[str]:
    """A case id's pattern, its CELL one of the cell types registered now (rnnref.CELL_TYPES)."""
    cells = "|".join(re.escape(name) for name in cell_names())
    return re.compile(f"^(?P<cell>{cells}){_ID_AFTER_CELL}")


@dataclass(frozen=True)
class Case:
    """One benchmark row: what runs (cell, mode, backend) on which problem (the rest)."""

    cell: str
    mode: str
    backend: str
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    layout: str = "padded"
    fill: float = 1.0

    def __post_init__(self) -> None:
        if self.cell not in CELL_TYPES:
            raise ValueError(f"cell must be one of {cell_names()}, got {self.cell!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        sizes = (self.batch, self.seq_len, self.input_size, self.hidden_size, self.num_layers)
        if min(sizes) < 1:
            raise ValueError(f"batch, seq_len, sizes and num_layers must be >= 1, got {sizes}")
        if not 0.0 < self.fill <= 1.0:
            raise ValueError(f"fill must be in (0, 1], got {self.fill}")
        if self.fill < 1.0 and (self.batch < 2 or self.seq_len < 2):
            raise ValueError("fill < 1 needs batch >= 2 and seq_len >= 2")

    @property
    def shape_id(self) -> str:
        """The sizes, layout and fill part of the id: ``bB-tT-iI-hH-lL-DIR-LAYOUT-fFILL``."""
        direction = "bi" if self.bidirectional else "uni"
        return (
            f"b{self.batch}-t{self.seq_len}-i{self.input_size}-h{self.hidden_size}"
            f"-l{self.num_layers}-{direction}-{self.layout}-f{self.fill:g}"
        )

    @property
    def id(self) -> str:
        return f"{self.cell}-{self.mode}-{self.backend}-{self.shape_id}"

    @property
    def problem_id(self) -> str:
        """Cell, sizes and fill (not mode, backend, layout): cases with equal problem ids share
        weights, inputs and lengths, so padded and packed rows see the same batch."""
        direction = "bi" if self.bidirectional else "uni"
        return (
            f"{self.cell}-b{self.batch}-t{self.seq_len}-i{self.input_size}-h{self.hidden_size}"
            f"-l{self.num_layers}-{direction}-f{self.fill:g}"
        )

    def with_backend(self, backend: str) -> Case:
        return replace(self, backend=backend)

    def fields(self) -> dict:
        return asdict(self)


def parse_case_id(case_id: str) -> Case:
    """The :class:`Case` named by ``case_id``; ``ValueError`` naming the id if it is malformed."""
    match = _id_pattern().match(case_id)
    if match is None:
        raise ValueError(
            f"malformed case id {case_id!r}; expected "
            "CELL-MODE-BACKEND-bB-tT-iI-hH-lL-uni|bi-padded|packed-fFILL, "
            "e.g. lstm-inference-torch-b64-t100-i256-h256-l1-uni-padded-f1"
        )
    g = match.groupdict()
    return Case(
        cell=g["cell"],
        mode=g["mode"],
        backend=g["backend"],
        batch=int(g["batch"]),
        seq_len=int(g["seq_len"]),
        input_size=int(g["input_size"]),
        hidden_size=int(g["hidden_size"]),
        num_layers=int(g["num_layers"]),
        bidirectional=g["direction"] == "bi",
        layout=g["layout"],
        fill=float(g["fill"]),
    )


SHAPE_EXAMPLE = "e.g. lstm-b8-t50-i32-h64-l2-bi or gru-b64-t200-i128-h512-l1-uni-packed-f0.5"
_SIZES = (
    ("b", "batch"),
    ("t", "seq_len"),
    ("i", "input_size"),
    ("h", "hidden_size"),
    ("l", "num_layers"),
)


def parse_shape(text: str) -> dict:
    """The case fields (cell, sizes, direction, layout, fill) of a shape such as
    ``lstm-b8-t50-i32-h64-l2-bi`` or ``gru-b64-t200-i128-h512-l1-uni-packed-f0.5``.

    Raises ``ValueError`` with one line naming the first bad field.
    """
    parts = text.split("-")

    def bad(what: str) -> ValueError:
        return ValueError(f"bad shape {text!r}: {what} ({SHAPE_EXAMPLE})")

    if parts[0] not in CELL_TYPES:
        raise bad(f"cell {parts[0]!r} is not one of {', '.join(cell_names())}")
    if len(parts) not in (7, 9):
        raise bad(
            f"{len(parts)} fields; expected CELL-bB-tT-iI-hH-lL-uni|bi, optionally -packed-fFILL"
        )
    fields: dict = {"cell": parts[0]}
    for (letter, name), part in zip(_SIZES, parts[1:6], strict=True):
        digits = part[1:]
        if not part.startswith(letter) or not digits.isdigit() or int(digits) < 1:
            raise bad(f"{name} {part!r} must be {letter}N with N a positive integer")
        fields[name] = int(digits)
    if parts[6] not in ("uni", "bi"):
        raise bad(f"direction {parts[6]!r} must be uni or bi")
    fields["bidirectional"] = parts[6] == "bi"
    fields["layout"], fields["fill"] = "padded", 1.0
    if len(parts) == 9:
        layout, fill = parts[7], parts[8]
        if layout not in LAYOUTS:
            raise bad(f"layout {layout!r} must be packed or padded")
        try:
            value = float(fill[1:]) if fill.startswith("f") else None
        except ValueError:
            value = None
        if value is None or not 0.0 < value <= 1.0:
            raise bad(f"fill {fill!r} must be fF with 0 < F <= 1, e.g. f0.5")
        fields["layout"], fields["fill"] = layout, value
    try:
        Case(mode="inference", backend="torch", **fields)
    except ValueError as exc:
        raise bad(str(exc)) from None
    return fields


def seed_of(case: Case) -> int:
    """A stable seed from the problem id (same weights and inputs for every backend)."""
    return zlib.crc32(case.problem_id.encode())


def draw_lengths(batch: int, seq_len: int, fill: float, seed: int) -> np.ndarray:
    """Sequence lengths, shape (batch,) int64, in [1, seq_len], max == seq_len.

    Drawn so that mean / max is ``fill`` as closely as integer lengths allow:
    ``1 + (seq_len - 1) * u**p`` with seeded uniform ``u`` (one of them set to 1) and the
    power ``p`` found by bisection. Deterministic for a given seed.
    """
    if fill >= 1.0:
        return np.full(batch, seq_len, dtype=np.int64)
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 1.0, size=batch)
    u[rng.integers(batch)] = 1.0
    target = fill * seq_len

    def lengths_for(power: float) -> np.ndarray:
        return np.rint(1 + (seq_len - 1) * u**power).astype(np.int64)

    lo, hi = 1e-3, 1e3
    for _ in range(100):
        mid = (lo * hi) ** 0.5
        if lengths_for(mid).mean() > target:
            lo = mid
        else:
            hi = mid
    low_mean, high_mean = lengths_for(lo), lengths_for(hi)
    best = min((low_mean, high_mean), key=lambda lens: abs(lens.mean() - target))
    return best


def valid_tokens(case: Case) -> int:
    """Number of valid (non-padding) tokens in the case's batch."""
    return int(draw_lengths(case.batch, case.seq_len, case.fill, seed_of(case)).sum())
