"""The bench report: sections, headline, claims with known answers, links, escaping."""

from __future__ import annotations

import html
import json
import pathlib

import pytest

from reports.bench_report import write_bench_report
from reports.cases import flat_rows
from reports.claims import check_claims
from reports.headline import headline
from reports.runfile import load_run
from tests.reports import runfactory as rf

HOSTILE = "<script>alert(1)</script>"
HOSTILE_FILE = "<img src=x onerror=alert(1)>"  # a file name may hold anything but '/'


def _rows(doc: dict) -> list[dict]:
    return flat_rows(doc)


@pytest.fixture(scope="module")
def matrix() -> dict:
    return rf.matrix(seed=3)


def test_claims_have_the_answers_built_into_the_timings(matrix: dict) -> None:
    claims = {c.title: c for c in check_claims(_rows(matrix))}
    pow2 = claims["Batch sizes should be powers of two"]
    assert pow2.verdict == "does not hold"
    assert len(pow2.evidence) == 4  # 32 vs 31 and 33, 64 vs 63 and 65
    assert claims["Cost grows linearly with layers"].verdict == "holds"
    gru = claims["GRU is cheaper than LSTM"]
    assert gru.verdict == "holds"
    assert "median GRU/LSTM time ratio 0.8" in gru.summary
    packing = claims["Packing saves time on variable lengths"]
    assert packing.verdict == "holds"
    assert [row[1] for row in packing.evidence] == ["0.250", "0.500", "0.750"]
    assert claims["int8 makes inference faster"].verdict == "holds"


def test_claims_without_rows_say_not_measured() -> None:
    doc = rf.run([rf.benchmark(backend="torch", seed=1), rf.benchmark(backend="numpy", seed=2)])
    claims = check_claims(_rows(doc))
    assert [c.verdict for c in claims] == ["not measured in this run"] * 5
    assert not any(c.evidence for c in claims)


def test_claim_against_the_data() -> None:
    # GRU slower than LSTM here: the claim must be reported as not holding.
    doc = rf.run([rf.benchmark(cell="gru", median=0.02, seed=1), rf.benchmark(cell="lstm", seed=2)])
    claim = next(c for c in check_claims(_rows(doc)) if c.title.startswith("GRU"))
    assert claim.verdict == "does not hold"


def test_headline_picks_fastest_exact_and_lossy_apart(matrix: dict) -> None:
    entries = headline(_rows(matrix), rf.BOUNDS)
    lstm_inf = [
        e
        for e in entries
        if (e["cell"], e["mode"], e["batch"]) == ("lstm", "inference", 16)
        and e["shape"].startswith("seq 100")
    ]
    assert len(lstm_inf) == 1
    entry = lstm_inf[0]
    assert entry["fastest"]["backend"] == "torchscript"  # int8 is faster, but lossy
    assert entry["lossy"]["backend"] == "int8"
    assert entry["backends"] == 4
    assert entry["speedup"] == pytest.approx(1 / 0.95, rel=0.08)
    assert entry["lossy_speedup"] == pytest.approx(1 / 0.7, rel=0.08)
    training = [e for e in entries if e["mode"] == "training" and e["batch"] == 64]
    assert {e["fastest"]["backend"] for e in training} == {"torchscript"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, str]:
    folder = tmp_path_factory.mktemp("bench")
    doc = rf.matrix(seed=4, hostile=HOSTILE)
    doc["benchmarks"].append(rf.benchmark(backend=HOSTILE, seed=9))
    doc["rnnref"]["skipped"].append({"case": HOSTILE, "reason": f"because {HOSTILE}"})
    doc["rnnref"]["noise_warnings"].append(f"{HOSTILE} was noisy")
    doc["rnnref"]["failed"].append({"case": "gru-inference-bad", "error": f"rel_err {HOSTILE}"})
    doc["rnnref"]["versions"]["blas"] = HOSTILE
    doc["machine_info"]["node"] = HOSTILE
    run_dir = folder / "runs"
    run_dir.mkdir()
    run_path = rf.write(run_dir / "run-1.json", doc)
    profiles = run_dir / "profiles"
    profiles.mkdir()
    case = doc["benchmarks"][0]["extra_info"]["case"]
    (profiles / f"{case}.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (profiles / f"{HOSTILE_FILE}.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    out = folder / "html" / "report.html"
    write_bench_report(run_path, out)
    return out, case


def test_report_sections_and_content(report: tuple[pathlib.Path, str]) -> None:
    text = report[0].read_text()
    for section in (
        "environment",
        "headline",
        "figures",
        "claims",
        "results",
        "skipped",
        "profiles",
    ):
        assert f'<section id="{section}">' in text
    assert text.count("<svg") >= 5
    assert "http://" not in text.replace("http://www.w3.org", "")
    assert "https://" not in text
    assert "int8 quantization is inference-only" in text
    assert 'id="failed-table"' in text
    assert "gru-inference-bad" in text
    assert "Partial run" not in text
    assert "not measured in this run" not in text


def test_flame_graphs_are_linked_relative_to_the_report(report: tuple[pathlib.Path, str]) -> None:
    out, case = report
    text = out.read_text()
    assert f'href="../runs/profiles/{case}.svg"' in text
    assert 'href="../runs/profiles/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.svg"' in text
    assert (out.parent / f"../runs/profiles/{case}.svg").resolve().exists()


def test_hostile_strings_are_escaped_in_bench_report(report: tuple[pathlib.Path, str]) -> None:
    text = report[0].read_text()
    for hostile in (HOSTILE, HOSTILE_FILE):
        assert hostile not in text
        assert html.escape(hostile, quote=False) in text
    assert "<script" not in text
    assert "<img" not in text


def test_partial_run_is_said_and_empty_sections_explain(tmp_path: pathlib.Path) -> None:
    doc = rf.run([rf.benchmark(seed=1)])
    path = rf.write_partial(tmp_path / "r.partial.jsonl", doc, cut_last=False)
    out = tmp_path / "r.html"
    write_bench_report(path, out)
    text = out.read_text()
    assert 'id="partial-note"' in text
    assert "No latency-against-batch figure" in text
    assert "No packing figure" in text
    assert "No int8 figure" in text
    assert "No case was skipped." in text
    assert "No row was refused" in text
    assert "No flame graphs beside this run file" in text
    assert text.count("not measured in this run") == 5


@pytest.mark.parametrize("count", [2, 40])
def test_a_long_list_of_noise_warnings_is_folded(tmp_path: pathlib.Path, count: int) -> None:
    doc = rf.matrix(seed=5)
    doc["rnnref"]["noise_warnings"] = [f"row-{i}: IQR 20% of the median" for i in range(count)]
    out = tmp_path / "report.html"
    write_bench_report(rf.write(tmp_path / "run.json", doc), out)
    page = out.read_text()
    assert f"{count} warning(s)" in page and page.count("IQR 20% of the median") == count
    assert ("<details open>" in page) == (count <= 10)


def test_the_int8_figure_labels_batches_and_marks_unreliable_points(matrix: dict) -> None:
    from reports import bench_plots
    from reports.headline import mark_unreliable

    rows = _rows(matrix)
    mark_unreliable(rows)
    figure = str(bench_plots.int8_tradeoff(rows))
    assert all(f">b{batch}<" in figure for batch in (1, 16, 64))
    int8_points = sum(1 for r in rows if r["backend"] == "int8")
    for row in rows:
        row["unreliable"] = "timed 4 times (fewer than 10)" if row["backend"] == "int8" else None
    hollow = str(bench_plots.int8_tradeoff(rows))
    assert hollow.count("fill: #ffffff") == figure.count("fill: #ffffff") + int8_points


def test_the_reference_speed_bar_comes_from_the_runs_own_rows(tmp_path: pathlib.Path) -> None:
    from reports.bench_report import BAR_OF_OLDER_FILES, build_context, reference_speed

    shape = dict(batch=64, seq_len=100, input_size=256, hidden_size=256)
    doc = rf.run(
        [
            rf.benchmark(backend="numpy", mode="inference", median=0.03, seed=1, **shape),
            rf.benchmark(backend="torch", mode="inference", median=0.01, seed=2, **shape),
            rf.benchmark(backend="torch-no-onednn", mode="inference", median=0.04, seed=3, **shape),
            rf.benchmark(backend="numpy", mode="training", median=0.05, seed=4, **shape),
            rf.benchmark(backend="torch", mode="training", median=0.025, seed=5, **shape),
            rf.benchmark(backend="numpy", mode="inference", median=0.03, seed=6, batch=16),
            rf.benchmark(backend="torch", mode="inference", median=0.01, seed=7, batch=16),
        ]
    )
    entries = {
        (e["mode"], e["contender"]): e for e in reference_speed(_rows(doc), BAR_OF_OLDER_FILES)
    }
    assert set(entries) == {
        ("inference", "torch"),
        ("inference", "torch-no-onednn"),
        ("training", "torch"),
    }
    assert entries[("inference", "torch")]["ratio"] == pytest.approx(3.0, rel=0.1)
    assert not entries[("inference", "torch")]["meets"]  # 3x > 2x
    assert entries[("inference", "torch-no-onednn")]["meets"]  # 0.75 < 1
    assert entries[("training", "torch")]["meets"]  # 2x <= 2.5x

    # a run file that carries its own bar is checked against it, not against the older one
    own_bar = {
        "shape": {**BAR_OF_OLDER_FILES["shape"]},
        "limits": [{"mode": "inference", "contender": "torch", "limit": 4.0}],
    }
    doc["rnnref"]["reference_bar"] = own_bar
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    (entry,) = build_context(load_run(path), path, tmp_path / "report.html")["reference"]
    assert (entry["mode"], entry["contender"], entry["limit"], entry["meets"]) == (
        "inference",
        "torch",
        4.0,
        True,
    )


def test_a_merged_run_says_which_parts_were_lost_where_and_what_is_missing(
    tmp_path: pathlib.Path,
) -> None:
    doc = rf.run([rf.benchmark(seed=1)])
    node = "5276d1cdbfa2da8946b09012925af6aad1559672be65498dcacb3c03"
    other = "a91ee0f3772d1239576a3481fc61618342eae7c2cd6bd89a91d23971"
    lost = {"node_id": node, "node_ip": "10.0.0.7", "lost": "NodeDiedError: the node died."}
    doc["rnnref"]["merged"] = {"count": 4, "parts": [{"index": 1}, {"index": 2}], "missing": []}
    doc["rnnref"]["ray"] = {
        "parts": [
            {"index": 1, "tries": [{"node_id": other, "node_ip": "10.0.0.8", "exit": 0}]},
            {"index": 2, "tries": [lost, {"node_id": other, "node_ip": "10.0.0.8", "exit": 0}]},
            {"index": 3, "tries": [lost, {**lost, "node_id": other, "node_ip": "10.0.0.8"}]},
            {"index": 4, "tries": [{"node_id": None, "node_ip": None, "lost": "no slot"}]},
        ]
    }
    doc["rnnref"]["merged"]["missing"] = ["lstm-x", HOSTILE]
    out = tmp_path / "r.html"
    write_bench_report(rf.write(tmp_path / "r.json", doc), out)
    text = out.read_text()
    assert '<div class="warn" id="merged-note">' in text
    assert "of 2 of 4 parts: 2 case(s) missing, held by no part that came back." in text
    assert (
        "<li>part 2/4: lost on node 5276d1cd at 10.0.0.7 (NodeDiedError: the node died.); "
        "done on node a91ee0f3 at 10.0.0.8</li>" in text
    )
    assert (
        "<li>part 3/4: lost on node 5276d1cd at 10.0.0.7 (NodeDiedError: the node died.); "
        "lost on node a91ee0f3 at 10.0.0.8 (NodeDiedError: the node died.); "
        "its cases are missing</li>" in text
    )
    assert "<li>part 4/4: not run (no slot); its cases are missing</li>" in text
    assert "part 1/4" not in text  # done on its first try
    assert "<code>lstm-x</code>" in text and HOSTILE not in text


def test_a_merged_run_with_every_case_says_so_and_a_plain_run_has_no_merge_note(
    tmp_path: pathlib.Path,
) -> None:
    doc = rf.run([rf.benchmark(seed=1)])
    write_bench_report(rf.write(tmp_path / "plain.json", doc), tmp_path / "plain.html")
    assert 'id="merged-note"' not in (tmp_path / "plain.html").read_text()
    doc["rnnref"]["merged"] = {"count": 2, "parts": [{"index": 1}, {"index": 2}], "missing": []}
    write_bench_report(rf.write(tmp_path / "m.json", doc), tmp_path / "m.html")
    text = (tmp_path / "m.html").read_text()
    assert '<div class="note" id="merged-note">' in text
    assert "of 2 of 2 parts: every case of the run is here." in text
