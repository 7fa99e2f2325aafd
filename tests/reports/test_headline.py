"""The headline never misleads: lossy backends apart, unreliable rows left out and said why.

The failures these reproduce: the report crowned int8 (rel err 4.7e-2) and fp16 the
"fastest" over exact backends, and showed a 1,974x "speedup" from a row timed 4 times on
a busy machine.
"""

from __future__ import annotations

import pathlib

import pytest

from reports.bench_report import write_bench_report
from reports.cases import flat_rows
from reports.headline import MIN_ROUNDS, headline, is_exact, numerics, unreliable
from tests.reports import runfactory as rf


def _only(entries: list[dict]) -> dict:
    (entry,) = entries
    return entry


def _torch_and(**other) -> list[dict]:
    doc = rf.run([rf.benchmark(backend="torch", median=0.01, seed=1), rf.benchmark(**other)])
    return flat_rows(doc)


@pytest.mark.parametrize(
    ("backend", "dtype", "extra"),
    [
        ("int8", "qint8", {}),
        ("fp16", "float16", {}),
        ("bf16", "bfloat16", {}),
        ("cudnn", "float32", {"tf32": True}),
    ],
)
def test_a_faster_lossy_backend_is_not_crowned(backend, dtype, extra) -> None:
    rows = _torch_and(backend=backend, dtype=dtype, median=0.002, rel_err=4.7e-2, seed=2)
    for row in rows:
        row.update(extra if row["backend"] == backend else {})
    entry = _only(headline(rows, rf.BOUNDS))
    assert entry["fastest"]["backend"] == "torch"
    assert entry["speedup"] == pytest.approx(1.0)
    assert entry["lossy"]["backend"] == backend
    assert entry["lossy"]["rel_err"] == 4.7e-2
    assert entry["lossy_speedup"] == pytest.approx(5.0, rel=0.1)


def test_recorded_numerics_win_over_the_dtype() -> None:
    (row,) = flat_rows(rf.run([rf.benchmark(backend="bf16", dtype="float32", seed=3)]))
    row["numerics"] = "bf16"
    assert numerics(row) == "bf16" and not is_exact(row, rf.BOUNDS)
    row["numerics"] = "fp32"
    assert is_exact(row, rf.BOUNDS)
    row["rel_err"] = 2e-4  # above the fp32 bound: not exact, whatever it claims
    assert not is_exact(row, rf.BOUNDS)
    assert is_exact(row, {**rf.BOUNDS, "fp32": 1e-3})  # the bound is the run file's


def test_a_row_timed_4_times_gives_no_speedup() -> None:
    rows = _torch_and(backend="compile", median=0.01 / 1974, rounds=4, seed=4)
    entry = _only(headline(rows, rf.BOUNDS))
    assert entry["fastest"]["backend"] == "torch" and entry["speedup"] == pytest.approx(1.0)
    assert entry["left_out"] == [
        {"backend": "compile", "reason": f"timed 4 times (fewer than {MIN_ROUNDS})"}
    ]


def test_a_wide_spread_is_unreliable() -> None:
    (row,) = flat_rows(rf.run([rf.benchmark(data=[1.0, 1.0, 2.0, 3.0] * 5)]))
    assert unreliable(row).startswith("spread: IQR")
    (steady,) = flat_rows(rf.run([rf.benchmark(noise=0.03, rounds=30, seed=5)]))
    assert unreliable(steady) is None


def test_a_busy_machine_is_unreliable_when_the_cpu_count_is_known() -> None:
    rows = _torch_and(backend="numpy", median=0.001, seed=6)
    for row in rows:
        row["load_average"] = 5.0 if row["backend"] == "numpy" else 1.0
    numpy_row = next(r for r in rows if r["backend"] == "numpy")
    assert unreliable(numpy_row) is None  # without the CPU count, the load says nothing
    assert unreliable(numpy_row, cpus=2) == "machine busy while timed: load 5.0 on 2 CPUs"
    entry = _only(headline(rows, rf.BOUNDS, cpus=2))
    assert entry["fastest"]["backend"] == "torch"


def test_an_unreliable_torch_row_gives_no_speedup() -> None:
    doc = rf.run(
        [
            rf.benchmark(backend="torch", median=0.01, rounds=3, seed=7),
            rf.benchmark(backend="numpy", median=0.02, seed=8),
        ]
    )
    entry = _only(headline(flat_rows(doc), rf.BOUNDS))
    assert entry["fastest"]["backend"] == "numpy"
    assert entry["baseline"] is None and entry["speedup"] is None


def test_a_group_of_unreliable_rows_has_no_winner() -> None:
    doc = rf.run([rf.benchmark(backend=b, rounds=2, seed=i) for i, b in enumerate("ab")])
    entry = _only(headline(flat_rows(doc), rf.BOUNDS))
    assert entry["fastest"] is None and entry["lossy"] is None
    assert [e["backend"] for e in entry["left_out"]] == ["a", "b"]


def test_the_report_marks_unreliable_rows_and_keeps_them_out_of_claims(
    tmp_path: pathlib.Path,
) -> None:
    doc = rf.run(
        [
            rf.benchmark(backend="torch", cell="lstm", median=0.01, seed=9),
            rf.benchmark(backend="torch", cell="gru", median=0.008, rounds=4, seed=10),
            rf.benchmark(backend="int8", dtype="qint8", median=0.001, rel_err=4.7e-2, seed=11),
        ]
    )
    out = tmp_path / "report.html"
    write_bench_report(rf.write(tmp_path / "run.json", doc), out)
    page = out.read_text()
    assert "no: timed 4 times (fewer than 10)" in page
    headline_table = page[page.index('id="headline-table"') : page.index("</table>")]
    assert "<strong>torch</strong>" in headline_table
    assert "<strong>int8</strong>" not in headline_table
    assert "<td>int8</td>" in headline_table and "0.0470" in headline_table
    claims = page[page.index('<section id="claims">') : page.index('<section id="results">')]
    gru_claim = claims[claims.index("GRU is cheaper than LSTM") :]
    assert "not measured in this run" in gru_claim.split("</article>")[0]
    assert "1 unreliable row(s) left out" in claims
