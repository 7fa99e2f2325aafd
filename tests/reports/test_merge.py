"""``python -m reports merge``: real smoke-preset parts joined into one run file."""

import json
import shutil

import pytest

from bench.presets import get_preset
from bench.run import select
from bench.shard import split
from reports.__main__ import main
from reports.runfile import load_run
from tests.bench.helpers import run_bench_here

SELECTION = "gru"  # 10 smoke cases: exact and lossy backends, inference and training


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The two parts of the smoke run's gru cases, each run as a job of an array runs it
    (``python -m bench --shard K/2``, by its main in this process)."""
    paths = []
    for k in (1, 2):
        out = tmp_path_factory.mktemp(f"part{k}")
        done = run_bench_here("--preset", "smoke", "--filter", SELECTION, "--shard", f"{k}/2",
                              "--out", str(out))  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert f"part {k}/2" in done.stdout.splitlines()[0]
        (path,) = out.glob("*.json")
        paths.append(path)
    return paths


def _merge(capsys, *args):
    code = main(["merge", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _held(run):
    meta = run["rnnref"]
    return [b["extra_info"]["case"] for b in run["benchmarks"]] + [
        r["case"] for r in meta["skipped"] + meta["failed"]
    ]


def _edited(path, tmp_path, edit):
    """A copy of the part at ``path`` changed by ``edit(document)``."""
    doc = json.loads(path.read_text())
    edit(doc)
    copy = tmp_path / f"edited-{path.name}"
    copy.write_text(json.dumps(doc))
    return copy


def test_each_part_is_an_ordinary_run_that_records_the_split(parts):
    smoke = get_preset("smoke")
    chosen = select(smoke.cases, SELECTION)
    for k, (path, part) in enumerate(zip(parts, split(chosen, smoke, 2), strict=True), 1):
        assert path.name.startswith(f"smoke-{k}of2-") and path.with_suffix(".html").exists()
        run = load_run(path)
        shard = run["rnnref"]["shard"]
        assert (shard["index"], shard["count"]) == (k, 2)
        assert shard["cases_all"] == [case.id for case in chosen]
        assert run["rnnref"]["cases"] == len(part)
        assert sorted(_held(run)) == sorted(case.id for case in part)


def test_merged_parts_hold_the_unsharded_selection_and_render_and_compare(parts, tmp_path, capsys):
    out = tmp_path / "merged.json"
    code, printed, err = _merge(capsys, *reversed(parts), "-o", out)
    assert code == 0 and err == "" and printed.strip() == str(out)
    merged = load_run(out)
    selection = [case.id for case in select(get_preset("smoke").cases, SELECTION)]
    assert sorted(_held(merged)) == sorted(selection)
    rows = [b["extra_info"]["case"] for b in merged["benchmarks"]]
    assert rows == sorted(rows, key=selection.index)  # the selection's order, not the parts'
    info = merged["rnnref"]["merged"]
    assert info["missing"] == [] and info["count"] == 2
    assert [p["index"] for p in info["parts"]] == [1, 2]
    assert merged["rnnref"]["cases"] == len(selection) and "shard" not in merged["rnnref"]
    assert main(["bench", str(out), "-o", str(tmp_path / "merged.html")]) == 0
    page = (tmp_path / "merged.html").read_text()
    assert "of 2 of 2 parts: every case of the run is here." in page
    for part in parts:  # the results table has each part's rows (backend, cell, mode)
        for row in load_run(part)["benchmarks"]:
            info = row["extra_info"]
            assert f"<tr><td>{info['backend']}</td><td>gru</td><td>{info['mode']}</td>" in page
    assert main(["compare", str(parts[0]), str(out), "-o", str(tmp_path / "cmp.html")]) == 0
    assert "0 only in BASE" in capsys.readouterr().out


def test_a_missing_part_is_warned_and_listed(parts, tmp_path, capsys):
    out = tmp_path / "half.json"
    code, _, err = _merge(capsys, parts[0], "-o", out)
    assert code == 0
    missing = json.loads(out.read_text())["rnnref"]["merged"]["missing"]
    assert sorted(missing) == sorted(_held(json.loads(parts[1].read_text())))
    assert err.startswith(f"warning: {len(missing)} case(s) missing") and missing[0] in err


@pytest.mark.parametrize(
    ("edit", "word"),
    [
        (lambda d: d["machine_info"]["cpu"].update(brand_raw="Apple M2"), "another machine"),
        (lambda d: d["rnnref"]["versions"].update(torch="2.0.0"), "another machine"),
        (lambda d: d["rnnref"].update(gpu="NVIDIA H100"), "another machine"),
        (lambda d: d["rnnref"]["timing"].update(passes=10), "another run"),
        (lambda d: d["rnnref"].update(preset="quick"), "another run"),
        (lambda d: d["rnnref"]["shard"].update(count=3), "another split"),
        (lambda d: d["rnnref"]["shard"].update(index=1), "part 1 is also given"),
        (lambda d: d["rnnref"].pop("shard"), "not a part of a sharded run"),
    ],
)
def test_parts_that_do_not_belong_together_are_refused(parts, tmp_path, capsys, edit, word):
    out = tmp_path / "merged.json"
    code, _, err = _merge(capsys, parts[0], _edited(parts[1], tmp_path, edit), "-o", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err
    assert not out.exists()


def test_a_case_in_two_parts_is_refused(parts, tmp_path, capsys):
    def steal(doc):  # part 2 claims a row of part 1 too
        doc["benchmarks"].append(json.loads(parts[0].read_text())["benchmarks"][0])

    out = tmp_path / "m.json"
    code, _, err = _merge(capsys, parts[0], _edited(parts[1], tmp_path, steal), "-o", out)
    assert code == 2 and "is also in" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_output_that_is_an_input_is_refused_and_kept(parts, tmp_path, capsys):
    copy = tmp_path / "part1.json"
    shutil.copy(parts[0], copy)
    before = copy.read_bytes()
    code, _, err = _merge(capsys, copy, parts[1], "-o", copy)
    assert code == 2 and "is the input" in err
    assert copy.read_bytes() == before
    code, _, err = _merge(capsys, parts[0], parts[1], "-o", tmp_path)
    assert code == 2 and "is a directory" in err


def test_a_partial_part_is_refused(parts, capsys, tmp_path):
    (partial,) = parts[0].parent.glob("*.partial.jsonl")
    code, _, err = _merge(capsys, partial, parts[1], "-o", tmp_path / "m.json")
    assert code == 2 and "partial file" in err
