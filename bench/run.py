"""One benchmark run: select cases, pin threads, measure peak, run pytest, write the files."""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

import pytest
import torch

from bench import flops, matrix
from bench.cases import Case, parse_shape
from bench.check import BOUNDS
from bench.environment import busy_warning, gpu_name, pin_threads, versions
from bench.kexpr import id_filter
from bench.peak import PEAK_S, measure_peak
from bench.plugin import BenchPlugin, BenchRun
from bench.presets import Preset, for_shapes, get_preset
from bench.progress import duration
from bench.record import RunRecorder, write_json
from bench.reference_speed import MATRIX_BAR
from bench.shard import expected_seconds
from bench.summary import summary_lines
from rnnref_cli.command import CommandError
from usermodel.timing import SETTLE_S

if TYPE_CHECKING:
    from bench.model import ModelBench


class BadArgument(CommandError, ValueError):
    """A bad argument (a preset, filter, shape, thread count or output folder that cannot be
    used): the CLI prints its message as one line and exits 2."""


class DiskError(CommandError):
    """The run's files could not be written (e.g. the disk filled up): one line, exit 2;
    the rows already in the partial file stay readable."""


def select(
    cases: tuple[Case, ...], expression: str | None, allow_empty: bool = False
) -> list[Case]:
    """The cases whose id matches a pytest ``-k`` style expression (all if None).

    Words match as case-insensitive substrings of the case id, combined with
    ``and``, ``or``, ``not`` and parentheses, e.g. ``"lstm and not training"``.
    BadArgument when the expression is malformed or (unless ``allow_empty``) matches none.
    """
    keep = matcher(expression)
    chosen = [case for case in cases if keep(case.id)]
    if not chosen and not allow_empty:
        raise BadArgument(f"--filter {expression!r} matches no case of this run")
    return chosen


def matcher(expression: str | None) -> Callable[[str], bool]:
    """Does an id match the ``-k`` style ``expression``? (Always, when None.)"""
    if not expression:
        return lambda _id: True
    try:
        return id_filter(expression)
    except ValueError as exc:
        raise BadArgument(f"bad --filter expression {expression!r}: {exc}") from None


def prepare_out_dir(out_dir: pathlib.Path) -> pathlib.Path:
    """Create ``out_dir`` if needed; BadArgument if it cannot hold the run's files."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadArgument(f"cannot create output directory {out_dir}: {exc.strerror}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BadArgument(f"output directory {out_dir} is not writable")
    return out_dir


def new_run_id(preset: str, out_dir: pathlib.Path) -> str:
    """``<preset>-<UTC time>``, with a counter if that name is taken in ``out_dir``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id, n = f"{preset}-{stamp}", 1
    while (out_dir / f"{run_id}.partial.jsonl").exists():
        n += 1
        run_id = f"{preset}-{stamp}-{n}"
    return run_id


def pytest_args() -> list[str]:
    """Arguments for pytest.main: the matrix file, one line per row.

    Rounds are chosen per row by the preset (bench.presets.Preset.rounds_for) and timed by
    :mod:`usermodel.timing` (GC off while timing); pytest-benchmark's plugin supplies the
    machine and commit information of the run file. Installed plugins are not
    auto-loaded (xdist would split the rows, hypothesis costs a second of import and
    summary): pytest-benchmark is the one plugin the run loads.
    """
    return [
        matrix.__file__,
        "-v",
        "--disable-plugin-autoload",
        "-p",
        "pytest_benchmark.plugin",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-o",
        "console_output_style=classic",  # the row's own line says row k/N, pass p/P, ETA
        "-rfE",
        "--no-header",
        "-W",
        "ignore::DeprecationWarning",
        "-W",
        "ignore::UserWarning",
        "--rootdir",
        str(pathlib.Path(matrix.__file__).parent),
        "--benchmark-quiet",
    ]


_CALLER_PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_XDIST_")


@contextlib.contextmanager
def own_pytest_session() -> Iterator[None]:
    """Hide the caller's pytest settings from the benchmark's own pytest session.

    PYTEST_ADDOPTS could add options (``-n``, ``--benchmark-disable``), and an inherited
    PYTEST_XDIST_WORKER (``python -m bench`` started from an xdist worker) makes
    pytest-benchmark disable itself. Restored afterwards.
    """
    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(_CALLER_PYTEST_ENV)}
    try:
        yield
    finally:
        os.environ.update(hidden)


def run(
    preset_name: str,
    expression: str | None,
    out_dir: pathlib.Path,
    threads: int | None = None,
    stream: TextIO | None = None,
    shapes: list[str] | None = None,
    model: ModelBench | None = None,
    shard: tuple[int, int] | None = None,
    report: bool = True,
) -> int:
    """Run a preset and write ``<run-id>.json``, ``.partial.jsonl`` and ``.html`` in out_dir
    (no ``.html`` when ``report`` is False).

    With ``shapes`` (``lstm-b8-t50-i32-h64-l2-bi``, ...; :func:`bench.cases.parse_shape`)
    the run holds every backend and mode at those shapes instead of the preset's cases,
    timed as the preset times its rows; the run file's preset is ``"shape"`` and its
    ``shapes`` lists them. With ``model`` (``python -m bench model``: shapes are the ones
    its recurrent layers saw) the model's deployment paths are checked and timed first,
    and the run file's preset is ``"model"``. Returns 0 when every selected case was timed
    or skipped with a reason, 1 when some row failed (e.g. refused by the correctness
    gate), 130 when it was interrupted (Ctrl-C). With ``shard`` ``(K, N)`` the run holds only the
    K-th of N parts of the selected cases (:func:`bench.shard.split`); its run file's
    ``shard`` records ``{index, count, cases_all, expected_s}`` for ``python -m reports merge``.
    Raises BadArgument for bad arguments (before anything is written), and DiskError
    when the partial or final file cannot be written (the run stops there). Progress and the
    summary go to ``stream`` (default: stdout).
    """
    stream = stream or sys.stdout
    preset = choose_preset(preset_name, shapes)
    cases = select(preset.cases, expression, allow_empty=model is not None)
    shard_info = None
    if shard:
        cases, shard_info = _shard(cases, preset, *shard)
    if threads is not None and threads < 1:
        raise BadArgument(f"--threads must be >= 1, got {threads}")
    out_dir = prepare_out_dir(out_dir)
    threads = threads or torch.get_num_threads()
    pin_threads(threads)
    load_start = os.getloadavg()[0]

    what = f"shapes {', '.join(shapes)} timed as {preset_name}" if shapes else preset.name
    if model:
        layers = ", ".join(shapes or ()) or "none"
        what = f"model {model.user.target} (its layers: {layers}) timed as {preset_name}"
    if shard_info:
        what += f", part {shard_info['index']}/{shard_info['count']}"
    print(f"bench: preset {what}, {len(cases)} cases, {threads} threads", file=stream)
    expected = sum(expected_seconds(case, preset) for case in cases)
    print(
        f"bench: expected about {duration(expected)} (bench/shard.py's cost model; "
        "backends that skip here take less)",
        file=stream,
    )
    print("bench: measuring GEMM peak ...", file=stream, flush=True)
    peak = measure_peak(seconds=min(preset.max_time, PEAK_S))
    print(f"bench: peak GFLOP/s {peak}", file=stream, flush=True)

    name = "model" if model else preset.name
    run_id = new_run_id(f"{name}-{shard[0]}of{shard[1]}" if shard else name, out_dir)
    partial = out_dir / f"{run_id}.partial.jsonl"
    from reports.runfile import SCHEMA

    recorder = RunRecorder(
        partial,
        {
            "schema": SCHEMA,
            "run_id": run_id,
            "preset": name,
            "filter": expression,
            "shapes": shapes or None,
            "cases": len(cases),
            "peak_gflops": peak["cpu"],
            "peak": peak,
            "threads": threads,
            "versions": versions(),
            "gpu": gpu_name(),
            "bounds": BOUNDS,
            "reference_bar": MATRIX_BAR,
            "timing": {
                "min_rounds": preset.min_rounds,
                "max_rounds": preset.max_rounds,
                "max_time_s": preset.max_time,
                "passes": preset.passes,
                "settle_s": SETTLE_S,
                "preset": preset_name,
            },
            **({"model": model.header} if model else {}),
            **({"shard": shard_info} if shard_info else {}),
            "flops": flops.convention(),
        },
    )
    before = (lambda: model.run(recorder, threads, stream)) if model else None
    plugin = BenchPlugin(BenchRun(preset, cases, recorder, peak, threads, before=before))
    try:
        with own_pytest_session():
            code = pytest.main(pytest_args(), plugins=[plugin])
    finally:
        with contextlib.suppress(OSError):  # a full disk: the error is in plugin.write_error
            recorder.close()
    if plugin.write_error is not None:
        reason = plugin.write_error.strerror or plugin.write_error
        raise DiskError(f"cannot write {partial}: {reason}; the rows written before are kept in it")
    if code == pytest.ExitCode.INTERRUPTED:
        print(f"bench: interrupted (Ctrl-C); finished rows are kept in {partial}", file=stream)
        html = write_report(partial, stream) if report else None  # the report of what finished
        if html:
            print(f"report:   {html}", file=stream)
        return 130

    load_end = os.getloadavg()[0]
    recorder.rnnref["load_average"] = {"start": load_start, "end": load_end}
    busy = [
        busy_warning(load_start, 0, "at the start"),
        busy_warning(load_end, threads, "at the end"),
    ]
    run_path = out_dir / f"{run_id}.json"
    try:
        write_json(run_path, recorder.final(plugin.commit_info, [w for w in busy if w]))
    except OSError as exc:
        run_path.with_suffix(".json.tmp").unlink(missing_ok=True)  # write_json's half file
        raise DiskError(
            f"cannot write {run_path}: {exc.strerror or exc}; every row is kept in {partial}"
        ) from None
    print("", file=stream)
    for line in summary_lines(recorder.benchmarks, recorder.rnnref):
        print(line, file=stream)
    print(f"run file: {run_path}", file=stream)
    html = write_report(run_path, stream) if report else None
    if html:
        print(f"report:   {html}", file=stream)
    return 1 if recorder.rnnref["failed"] else 0


def _shard(
    cases: list[Case], preset: Preset, index: int, count: int
) -> tuple[list[Case], dict[str, Any]]:
    """The ``index``-th of ``count`` parts of ``cases`` and the run file's ``shard`` record;
    BadArgument when that part is empty (fewer cases than parts)."""
    from bench.shard import part_seconds, split

    part = split(cases, preset, count)[index - 1]
    if not part:
        raise BadArgument(
            f"--shard {index}/{count} is empty: the selection has only {len(cases)} cases"
        )
    record = {
        "index": index,
        "count": count,
        "cases_all": [case.id for case in cases],
        "expected_s": round(part_seconds(part, preset), 1),
    }
    return part, record


def choose_preset(preset_name: str, shapes: list[str] | None) -> Preset:
    """The named preset, or with ``shapes`` every backend and mode at those shapes timed as
    that preset; BadArgument (one line naming the bad field) for a bad name or shape."""
    try:
        preset = get_preset(preset_name)
        if shapes is not None:
            preset = for_shapes([parse_shape(shape) for shape in shapes], preset)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    return preset


def write_report(run_path: pathlib.Path, stream: TextIO) -> pathlib.Path | None:
    """Render ``<run-id>.html`` beside the run file (``<run-id>.partial.html`` beside a partial
    file) with reports; None if it could not."""
    html = run_path.with_suffix(".html")
    try:
        from reports.bench_report import write_bench_report

        write_bench_report(run_path, html)
    except Exception as exc:  # the run file is written; a report failure must not lose it
        print(f"bench: report not written ({type(exc).__name__}: {exc})", file=stream)
        return None
    return html
