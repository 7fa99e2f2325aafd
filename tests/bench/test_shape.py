"""``python -m bench --shape SHAPE``: the user's own shapes, every backend and mode."""

from __future__ import annotations

import json

import pytest

from bench.backends import BACKENDS
from bench.cases import MODES, parse_shape
from bench.check import BOUNDS

from .helpers import run_bench_here
from .test_cli import _assert_one_line_exit_2, _cli


def test_a_shape_names_every_field():
    assert parse_shape("gru-b64-t200-i128-h512-l1-uni-packed-f0.5") == {
        "cell": "gru",
        "batch": 64,
        "seq_len": 200,
        "input_size": 128,
        "hidden_size": 512,
        "num_layers": 1,
        "bidirectional": False,
        "layout": "packed",
        "fill": 0.5,
    }
    shape = parse_shape("lstm-b8-t50-i32-h64-l2-bi")
    assert (shape["bidirectional"], shape["layout"], shape["fill"]) == (True, "padded", 1.0)


@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ("transformer-b8-t50-i32-h64-l2-bi", "cell 'transformer'"),
        ("lstm-b0-t50-i32-h64-l2-bi", "batch 'b0'"),
        ("lstm-b8-50-i32-h64-l2-bi", "seq_len '50'"),
        ("lstm-b8-t50-i3.5-h64-l2-bi", "input_size 'i3.5'"),
        ("lstm-b8-t50-i32-hx-l2-bi", "hidden_size 'hx'"),
        ("lstm-b8-t50-i32-h64-l-bi", "num_layers 'l'"),
        ("lstm-b8-t50-i32-h64-l2-both", "direction 'both'"),
        ("lstm-b8-t50-i32-h64-l2-bi-sorted-f0.5", "layout 'sorted'"),
        ("lstm-b8-t50-i32-h64-l2-bi-packed-f0", "fill 'f0'"),
        ("lstm-b8-t50-i32-h64-l2-bi-packed-half", "fill 'half'"),
        ("lstm-b8-t50-i32-h64-l2", "6 fields"),
        ("lstm-b1-t50-i32-h64-l2-bi-packed-f0.5", "fill < 1 needs batch >= 2"),
    ],
)
def test_a_bad_shape_is_one_line_naming_the_field_and_exit_2(shape, field, tmp_path, capsys):
    code, _, err = _cli(capsys, "--shape", "lstm-b2-t3-i4-h5-l1-uni", "--shape", shape,
                        "--out", str(tmp_path / "out"))  # fmt: skip
    _assert_one_line_exit_2(code, err, field, shape)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def shape_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("shape")
    shapes = ["gru-b3-t4-i5-h6-l2-bi", "lstm-b4-t5-i3-h4-l1-uni-packed-f0.5"]
    args = [arg for shape in shapes for arg in ("--shape", shape)]
    done = run_bench_here("--preset", "smoke", *args, "--filter", "not compile", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_path,) = out.glob("*.json")
    return done, shapes, run_path, json.loads(run_path.read_text())


def test_every_backend_and_mode_ran_at_each_shape_or_says_why_not(shape_run):
    _, shapes, _, run = shape_run
    timed = {b["extra_info"]["case"] for b in run["benchmarks"]}
    skipped = {s["case"]: s["reason"] for s in run["rnnref"]["skipped"]}
    assert all(skipped.values())
    for shape in shapes:
        fields = parse_shape(shape)
        sizes = "b{batch}-t{seq_len}-i{input_size}-h{hidden_size}-l{num_layers}".format(**fields)
        for mode in MODES:
            for backend in set(BACKENDS) - {"compile"}:
                ids = {
                    c for c in timed | set(skipped) if f"{fields['cell']}-{mode}-{backend}-b" in c
                }
                assert any(sizes in c for c in ids), (shape, mode, backend)
    assert skipped["lstm-inference-onnxruntime-b4-t5-i3-h4-l1-uni-packed-f0.5"].startswith(
        "onnxruntime: pack_padded_sequence"
    )


def test_the_run_file_says_shape_and_lists_the_shapes(shape_run):
    done, shapes, run_path, run = shape_run
    meta = run["rnnref"]
    assert meta["preset"] == "shape" and meta["shapes"] == shapes
    assert meta["timing"]["preset"] == "smoke" and meta["filter"] == "not compile"
    assert run_path.name.startswith("shape-")
    assert run_path.with_suffix(".html").is_file()
    assert f"run file: {run_path}" in done.stdout
    for entry in run["benchmarks"]:
        info = entry["extra_info"]
        assert 0 <= info["rel_err"] <= BOUNDS[info["numerics"]], info["case"]
        assert len(entry["stats"]["data"]) == entry["stats"]["rounds"]
