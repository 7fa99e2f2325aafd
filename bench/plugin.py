"""The pytest plugin that runs the matrix and records every row as a pytest-benchmark entry.

It parametrizes ``bench/matrix.py::test_case`` with the run's (pass, case id) pairs,
pass by pass (:attr:`bench.presets.Preset.passes`), hands the test a :class:`BenchRun`
(cases, seeded problems, the rows built so far, peak, threads, the suite's one timer:
:mod:`usermodel.timing`), and after each test adds the pass's timings (a
pytest-benchmark entry, :meth:`bench.record.RunRecorder.add_timings`), the skip reason
or the failure to the run's recorder.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bench.backends import BACKENDS
from bench.cases import Case
from bench.metrics import throughput
from bench.presets import Preset
from bench.problem import Problem, make_problem
from bench.progress import Progress
from bench.record import RunRecorder, entry_head
from bench.torchmods import unbuildable_reason
from bench.workload import Runner
from usermodel.timing import Settle, Timed, pass_order, time_pass


@dataclass
class BuiltRow:
    """A case built, checked and warmed up in the first pass, timed again in later ones:
    its runner, its row for the timer, and its ``extra_info`` (case fields, what ran)."""

    runner: Runner
    timed: Timed
    extra_info: dict[str, Any]


class BenchRun:
    """What one run's tests share: its cases, the recorder, peak GFLOP/s and threads."""

    def __init__(
        self,
        preset: Preset,
        cases: list[Case],
        recorder: RunRecorder,
        peak: dict[str, float],
        threads: int,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.preset = preset
        self.cases = {case.id: case for case in cases}
        self.recorder = recorder
        self.peak = peak
        self.threads = threads
        self.before = before  # work timed once the run file's header is written (bench model)
        self.built: dict[str, BuiltRow] = {}
        self._problems: OrderedDict[tuple, Problem] = OrderedDict()
        self._settle = Settle()

    def timing_passes(self) -> list[tuple[int, str]]:
        """(pass, case id) in running order: every case in pass 1 (the backends of one
        problem together, as its reference is shared), then pass by pass the cases that
        are not left out in :func:`usermodel.timing.pass_order` (grouped by thread pool,
        every other pass in reverse: few pauses; a row that fails in pass 1 skips its later
        passes)."""
        timed = [case_id for case_id, case in self.cases.items() if not self.skip_reason(case)]
        return [(1, case_id) for case_id in self.cases] + [
            (n, case_id)
            for n in range(2, self.preset.passes + 1)
            for case_id in pass_order(timed, lambda case_id: self._pool(self.cases[case_id]), n)
        ]

    def settle(self, case: Case) -> None:
        """Wait :data:`usermodel.timing.SETTLE_S` if the previous row ran on another
        thread pool."""
        self._settle(self._pool(case))

    def time(self, row: BuiltRow) -> list[float]:
        """One pass of ``row`` (:func:`usermodel.timing.time_pass`): seconds per call."""
        return time_pass(row.timed, self._settle)

    @staticmethod
    def _pool(case: Case) -> str:
        return BACKENDS[case.backend].thread_pool

    def skip_reason(self, case: Case) -> str | None:
        """Why ``case`` is not timed in this run (preset budget, cell or backend), or None."""
        return (
            self.preset.skip_reason(case)
            or unbuildable_reason(case.cell)
            or BACKENDS[case.backend].skip_reason(case)
        )

    def problem(self, case: Case, keep: int = 4) -> Problem:
        """The seeded problem of ``case`` (mode and layout decide its reference answer).

        The last ``keep`` problems stay cached: the backends of one problem run in a row
        and share its float64 reference.
        """
        key = (case.problem_id, case.mode, case.layout)
        if key not in self._problems:
            self._problems[key] = make_problem(case)
            while len(self._problems) > keep:
                self._problems.popitem(last=False)
        return self._problems[key]

    def peak_for(self, device: str) -> float:
        return self.peak["cuda" if device.startswith("cuda") else "cpu"]


class BenchPlugin:
    """Registered with ``pytest.main(plugins=[...])`` for one run."""

    def __init__(self, run: BenchRun) -> None:
        self.run = run
        self.commit_info: dict[str, Any] = {}
        self.write_error: OSError | None = None
        """Set when the partial file could not be written (e.g. the disk is full): the
        session stops after the current test and nothing more is written."""
        items = run.timing_passes()
        self.progress = Progress([(n, run.cases[case_id]) for n, case_id in items], run.preset)

    def _stop_on_write_error(self, session: pytest.Session, exc: OSError) -> None:
        self.write_error = exc
        session.shouldstop = f"cannot write {self.run.recorder.partial_path}: {exc.strerror}"

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        hook = session.config.hook
        machine_info = hook.pytest_benchmark_generate_machine_info(config=session.config)
        hook.pytest_benchmark_update_machine_info(config=session.config, machine_info=machine_info)
        try:
            self.run.recorder.start(machine_info)
            if self.run.before:
                self.run.before()
        except OSError as exc:
            self._stop_on_write_error(session, exc)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        self.commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "case_id" in metafunc.fixturenames:
            items = self.run.timing_passes()
            ids = [case_id if n == 1 else f"pass{n}-{case_id}" for n, case_id in items]
            metafunc.parametrize(("timing_pass", "case_id"), items, ids=ids)

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """No layer case (``bench model`` with a filter that keeps model rows only): drop the
        placeholder item pytest makes of an empty parametrization."""
        if not self.run.cases:
            config.hook.pytest_deselected(items=list(items))
            items.clear()

    @pytest.fixture
    def bench_run(self) -> BenchRun:
        return self.run

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        params = item.callspec.params if hasattr(item, "callspec") else {}
        case_id, timing_pass = params.get("case_id"), params.get("timing_pass")
        if case_id is None or (report.when != "call" and not (report.failed or report.skipped)):
            return
        if self.write_error is not None:  # the partial file is full: record nothing more
            return
        report.user_properties.append(("progress", self.progress.finished(timing_pass)))
        try:
            self._record(item, call, report, case_id, timing_pass)
        except OSError as exc:
            self._stop_on_write_error(item.session, exc)

    def _record(
        self,
        item: pytest.Item,
        call: pytest.CallInfo,
        report: pytest.TestReport,
        case_id: str,
        timing_pass: int | None,
    ) -> None:
        """Add one test's outcome (skip reason, failure or timings) to the recorder."""
        recorder = self.run.recorder
        if report.skipped:
            if timing_pass == 1:
                reason = str(getattr(call.excinfo.value, "msg", report.longrepr))
                recorder.skipped(case_id, reason)
        elif report.failed:
            error = call.excinfo.exconly().splitlines()[0] if call.excinfo else report.when
            recorder.failed(case_id, error)
            self.run.built.pop(case_id, None)
        else:
            timings = dict(report.user_properties).get("timings")
            if timings:
                self._add_timings(item, case_id, timings)

    def _add_timings(self, item: pytest.Item, case_id: str, timings: list[float]) -> None:
        """Record one pass of a row as a pytest-benchmark entry named after its first pass's
        test (name, node id, parameters), the throughput figures recomputed from the median
        over all its passes."""
        case, row = self.run.cases[case_id], self.run.built[case_id]
        preset = self.run.preset
        head = entry_head(
            item.name,
            item.nodeid,
            f"{case.cell}-{case.mode}-{case.shape_id}",
            dict(item.callspec.params),
            item.callspec.id,
            dict(row.extra_info),
            preset.min_rounds,
            preset.max_time,
        )
        peak = self.run.peak_for(row.extra_info["device"])
        self.run.recorder.add_timings(head, timings, lambda median: throughput(case, median, peak))

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        """Show each finished row's median and error in pytest's verbose progress line."""
        props = dict(report.user_properties)
        progress = props.get("progress")
        if report.when == "call" and report.passed and "median_s" in props:
            word = f"{props['median_s'] * 1e3:.3f} ms  " + (
                f"rel_err {props['rel_err']:.1e}" if "rel_err" in props else f"pass {props['pass']}"
            )
            return "passed", ".", f"{word}  [{progress}]" if progress else word
        if report.skipped and progress:
            return "skipped", "s", f"SKIPPED [{progress}]"
        return None
