"""Presets: which cases a run holds, how long pytest-benchmark times each, what it leaves out.

- ``smoke``: tiny shapes, every backend at least once, seconds (used by the tests);
- ``quick`` (default): every backend x cell x mode at batch 1, 16, 64 (seq 100, hidden
  256), and padded vs packed at fill 1.0, 0.75, 0.5, 0.25; compile at one shape only
  (its build time would blow the budget; the others are skipped with that reason);
- ``full``: quick plus DeepBench-like sizes, batch sizes around powers of two, 1-4 layers;
- ``gpu``: DeepBench's RNN shapes on cuDNN (fp32, TF32, fp16) with CPU torch at the same
  sizes for the speedup, and fp16 rows on both sides of cuDNN's persistent-kernel rule;
- ``shape`` (:func:`for_shapes`): the user's own shapes, every backend and mode, timed
  like the preset the user names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from bench.backends import BACKENDS
from bench.cases import MODES, Case
from bench.paths import COMPILE_TRAINING
from rnnref.cells import cell_names

FILLS = (1.0, 0.75, 0.5, 0.25)

COMPILE_ONE_SHAPE = (
    "compile: inductor generates and builds C++ for the unrolled sequence, about a minute "
    "per shape on 2 cores; this preset compiles one shape (LSTM inference, batch 64)"
)

Rule = tuple[Callable[[Case], bool], str]
"""A preset's leave-out rule: (does it apply to this case?, the reason recorded)."""


def _compile_training(case: Case) -> bool:
    return case.backend == "compile" and case.mode == "training"


def _compile_but_one_shape(case: Case) -> bool:
    return case.backend == "compile" and (case.cell, case.mode, case.batch) != (
        "lstm",
        "inference",
        64,
    )


@dataclass(frozen=True)
class Preset:
    """A named list of cases with timing options for pytest-benchmark.

    Each row is timed for ``rounds_for(seconds per call)`` rounds: about ``max_time``
    seconds, but at least ``min_rounds`` and at most ``max_rounds``, split evenly over
    ``passes`` passes through the whole list of cases. A shared machine's speed wanders
    for seconds at a time; timed in one block, a row would carry the speed of its few
    seconds, while spread over passes it sees the run's whole range. ``left_out`` rules
    name cases the preset lists but does not time (to keep within its time budget);
    they are recorded as skipped with the rule's reason.
    """

    name: str
    description: str
    cases: tuple[Case, ...]
    min_rounds: int
    max_time: float
    max_rounds: int = 200
    passes: int = 1
    left_out: tuple[Rule, ...] = ()

    def rounds_for(self, seconds_per_call: float) -> int:
        wanted = int(self.max_time / max(seconds_per_call, 1e-9))
        return max(self.min_rounds, min(self.max_rounds, wanted))

    def rounds_per_pass(self, seconds_per_call: float) -> int:
        return -(-self.rounds_for(seconds_per_call) // self.passes)  # ceiling division

    def skip_reason(self, case: Case) -> str | None:
        return next((reason for applies, reason in self.left_out if applies(case)), None)


def _unique(cases: Iterable[Case]) -> tuple[Case, ...]:
    """Cases in first-seen order without duplicates."""
    return tuple(dict.fromkeys(cases))


def _matrix(
    backends: Iterable[str],
    cells: Iterable[str] | None = None,
    modes: Iterable[str] = MODES,
    batches: Iterable[int] = (1,),
    seq_len: int = 100,
    hidden: int = 256,
    input_size: int | None = None,
    layers: Iterable[int] = (1,),
    bidirectional: Iterable[bool] = (False,),
    layouts: Iterable[str] = ("padded",),
    fills: Iterable[float] = (1.0,),
) -> list[Case]:
    """Every combination, backends innermost (the backends of one problem run together);
    ``cells`` None: every registered cell type (rnnref.CELL_TYPES)."""
    backends = list(backends)
    cells = cell_names() if cells is None else cells
    combos = itertools.product(cells, modes, batches, layers, bidirectional, fills, layouts)
    return [
        Case(
            cell,
            mode,
            backend,
            batch,
            seq_len,
            input_size or hidden,
            hidden,
            num_layers=num,
            bidirectional=bi,
            layout=layout,
            fill=fill,
        )
        for cell, mode, batch, num, bi, fill, layout in combos
        for backend in backends
    ]


def _packing(backends: Iterable[str], batch: int = 64) -> list[Case]:
    """Padded against packed LSTM at each fill (same batch and lengths for both layouts)."""
    return _matrix(
        backends, cells=("lstm",), batches=(batch,), layouts=("padded", "packed"), fills=FILLS
    )


def _smoke() -> Preset:
    tiny = dict(batches=(4,), seq_len=6, hidden=12, input_size=8)
    cases = [
        *_matrix(BACKENDS, cells=("lstm",), modes=("inference",), **tiny),
        *_matrix(("numpy", "torch", "torchscript", "torch-cell", "int8"), cells=("gru",), **tiny),
        *_matrix(("numpy", "torch", "int8"), cells=("rnn_tanh",), modes=("inference",), **tiny),
        *_matrix(
            ("numpy", "torch"), cells=("lstm",), layouts=("padded", "packed"), fills=(0.5,), **tiny
        ),
        *_matrix(
            ("torch-cell",),
            cells=("rnn_relu",),
            layers=(2,),
            bidirectional=(True,),
            layouts=("packed",),
            fills=(0.5,),
            **tiny,
        ),
    ]
    return Preset(
        "smoke",
        "tiny shapes, every backend at least once; seconds",
        _unique(cases),
        min_rounds=3,
        max_time=0.02,
        passes=2,
        left_out=((_compile_training, COMPILE_TRAINING),),
    )


def _quick() -> Preset:
    cases = [*_matrix(BACKENDS, batches=(1, 16, 64)), *_packing(("torch", "numpy"))]
    return Preset(
        "quick",
        "every backend x cell x mode at batch 1, 16, 64 (seq 100, hidden 256); packed vs padded",
        _unique(cases),
        min_rounds=5,
        max_time=0.5,
        passes=10,
        left_out=(
            (_compile_training, COMPILE_TRAINING),
            (_compile_but_one_shape, COMPILE_ONE_SHAPE),
        ),
    )


DEEPBENCH = (
    # (cell, hidden, batch, seq_len): DeepBench's RNN kernels, hidden 512-2560, batch 16-128
    ("rnn_tanh", 1760, 16, 50),
    ("rnn_tanh", 2560, 32, 50),
    ("lstm", 512, 16, 25),
    ("lstm", 1024, 32, 25),
    ("lstm", 2048, 32, 25),
    ("lstm", 2560, 64, 50),
    ("gru", 512, 32, 150),
    ("gru", 1024, 64, 50),
    ("gru", 2048, 128, 25),
)


def _full() -> Preset:
    deepbench = [
        case
        for cell, hidden, batch, seq_len in DEEPBENCH
        for case in _matrix(
            BACKENDS, cells=(cell,), batches=(batch,), seq_len=seq_len, hidden=hidden
        )
    ]
    around_powers = (31, 32, 33, 63, 64, 65, 127, 128)
    cases = [
        *_quick().cases,
        *deepbench,
        *_matrix(("torch", "numpy"), cells=("lstm", "gru"), batches=around_powers),
        *_matrix(("torch", "numpy"), cells=("lstm", "gru"), batches=(64,), layers=(1, 2, 3, 4)),
        *_matrix(("torch", "numpy"), cells=("lstm",), batches=(64,), bidirectional=(True,)),
    ]
    return Preset(
        "full",
        "quick + DeepBench sizes, batch sizes around powers of two, 1-4 layers",
        _unique(cases),
        min_rounds=5,
        max_time=1.0,
        passes=10,
        left_out=((_compile_training, COMPILE_TRAINING),),
    )


GPU_BACKENDS = ("cudnn", "cudnn-tf32", "cudnn-fp16", "torch")
"""Each gpu-preset shape in cuDNN's three numerics and on torch's CPU path (the speedup's
denominator in the same run)."""

GPU_DEEPBENCH = (
    # (cell, hidden, batch, seq_len), input = hidden as in DeepBench. The first three are the
    # training rows of DeepBench's README (vanilla RNNs are ReLU there); the others come from
    # its kernel list. lstm h512 b16 and h1024 b128 meet torch's conditions for cuDNN's
    # persistent kernel in fp16 on large Ampere/Hopper GPUs; the others do not (hidden over
    # 1024, or GRU, which torch never gives it).
    ("rnn_relu", 1760, 16, 50),
    ("rnn_relu", 2560, 32, 50),
    ("lstm", 1024, 128, 25),
    ("lstm", 512, 16, 25),
    ("lstm", 2048, 32, 25),
    ("gru", 1024, 64, 50),
)

GPU_PERSIST_OTHER_SIDE = (
    # DeepBench's headline LSTM (h1024 b128 t25) one condition away from the persistent
    # kernel, in fp16 only (the rule is about fp16): batch not a multiple of 8, two layers,
    # bidirectional.
    dict(batches=(124,)),
    dict(batches=(128,), layers=(2,)),
    dict(batches=(128,), bidirectional=(True,)),
)


def _gpu() -> Preset:
    cases = [
        case
        for cell, hidden, batch, seq_len in GPU_DEEPBENCH
        for case in _matrix(
            GPU_BACKENDS, cells=(cell,), batches=(batch,), seq_len=seq_len, hidden=hidden
        )
    ]
    headline = dict(cells=("lstm",), seq_len=25, hidden=1024)
    for other_side in GPU_PERSIST_OTHER_SIDE:
        cases += _matrix(("cudnn-fp16",), **headline, **other_side)
    cases += _matrix(("numpy",), **headline, batches=(128,))
    return Preset(
        "gpu",
        "DeepBench RNN/LSTM/GRU shapes (hidden 512-2560, batch 16-128) on cuDNN in fp32, TF32 "
        "and fp16 against torch on the CPU; fp16 rows on both sides of the persistent-kernel "
        "rule",
        _unique(cases),
        min_rounds=10,
        max_time=0.3,
        passes=3,
    )


def for_shapes(shapes: Iterable[dict], timing: Preset) -> Preset:
    """Every backend and mode at each of ``shapes`` (fields from
    :func:`bench.cases.parse_shape`), timed with ``timing``'s rounds and passes."""
    cases = [
        Case(mode=mode, backend=backend, **shape)
        for shape in shapes
        for mode in MODES
        for backend in BACKENDS
    ]
    return replace(
        timing,
        name="shape",
        description=f"your shapes, every backend and mode, timed as {timing.name}",
        cases=_unique(cases),
        left_out=((_compile_training, COMPILE_TRAINING),),
    )


PRESETS = {"smoke": _smoke, "quick": _quick, "full": _full, "gpu": _gpu}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` listing the known ones otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()
