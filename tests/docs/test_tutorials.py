"""The tutorials in docs/tutorials: jupytext percent scripts that run as plain scripts
and show what they teach.

Each runs in a subprocess from a scratch folder (``tmp_path``, with links to ``docs``
and ``diagnostics`` so that their relative paths resolve), so what it writes under
``out/tutorials`` lands there, not in the checkout; matplotlib draws with Agg.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from reports.runfile import load_run
from tests.hang_guard import TUTORIAL_S

REPO = pathlib.Path(__file__).resolve().parents[2]
TUTORIALS = REPO / "docs" / "tutorials"
NAMES = ("lstm_step_by_step", "which_implementation", "why_not_learning")


def run_tutorial(name: str, folder: pathlib.Path) -> str:
    """Run ``docs/tutorials/NAME.py`` as a script from ``folder``; return its output."""
    for part in ("docs", "diagnostics"):
        (folder / part).symlink_to(REPO / part, target_is_directory=True)
    paths = [str(REPO), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    result = subprocess.run(
        [sys.executable, f"docs/tutorials/{name}.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TUTORIAL_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_every_tutorial_is_run_here():
    assert sorted(p.stem for p in TUTORIALS.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_is_a_percent_script_without_magics(name):
    """Cells start with ``# %%`` or ``# %% [markdown]``; markdown cells are comments only;
    no line is an IPython magic or shell escape (the file must run as a plain script)."""
    lines = (TUTORIALS / f"{name}.py").read_text().splitlines()
    assert lines[0] == "# %% [markdown]"
    markers = [line for line in lines if line.startswith("# %%")]
    assert set(markers) <= {"# %%", "# %% [markdown]"} and len(markers) >= 10
    in_markdown = False
    for line in lines:
        if line.startswith("# %%"):
            in_markdown = line == "# %% [markdown]"
        elif in_markdown:
            assert line == "" or line.startswith("#"), line
        else:
            assert not line.startswith(("%", "!")), line


def test_lstm_step_by_step_matches_torch(tmp_path):
    out = run_tutorial("lstm_step_by_step", tmp_path)
    differences = re.findall(r"^max difference, (.+): (\S+)$", out, flags=re.MULTILINE)
    compared = {what for what, _ in differences}
    assert {"outputs (rnnref vs torch)", "dL/dx (rnnref vs torch)"} <= compared
    assert "dL/dh_t (rnnref vs torch LSTMCell)" in compared
    assert len([w for w in compared if w.startswith("gate ")]) == 4
    assert len(differences) >= 14  # outputs, cell, 4 gates, h_t, c_t, 4 weights, x, h_t
    for what, value in differences:
        assert float(value) < 1e-12, (what, value)  # float64: round-off only
    assert "LSTM with the same weights: True" in out


def test_why_not_learning_finds_the_bug_then_not_after_the_fix(tmp_path):
    out = run_tutorial("why_not_learning", tmp_path)
    before, fix, after = re.split(r"^(findings after the fix: .*)$", out, flags=re.MULTILINE)
    assert "error: vanishing-gradient: rnn (layer 0 forward)" in before
    assert fix == "findings after the fix: none"
    assert "vanishing-gradient" not in after
    assert "findings of the watched run: none" in after
    losses = [float(v) for v in re.findall(r"mean of the last 20 steps: (\S+)", out)]
    assert losses[0] > 0.6 and losses[1] < 0.5  # the bug: chance level; fixed: it learns
    log_dir = tmp_path / "out" / "tutorials" / "why_not_learning"
    assert list(log_dir.glob("events.out.tfevents.*")) and (log_dir / "report.html").is_file()
    assert json.loads((log_dir / "findings.json").read_text())["findings"] == []
    assert "'train/loss'" in after and "'decay_per_step/rnn/l0_forward'" in after


def test_which_implementation_runs_bench_model_and_reads_its_run_file(tmp_path):
    out = run_tutorial("which_implementation", tmp_path)
    assert "exit status: 0" in out
    assert "bench model: model-inference-eager built in" in out
    assert re.search(r"^timed \d+ rows, skipped \d+, failed 0$", out, flags=re.MULTILINE)
    out_dir = tmp_path / "out" / "tutorials" / "which_implementation"
    (run_path,) = out_dir.glob("model-*[0-9].json")
    run = load_run(run_path)
    rows = {b["extra_info"]["backend"]: b["extra_info"] for b in run["benchmarks"]}
    assert {"eager", "flush-denormal"} <= set(rows)
    assert all(row["mode"] == "inference" for row in rows.values())
    header = re.search(r"^ *backend numerics +ms +iqr_ms +rounds +speedup +rel_err", out, re.M)
    assert header, out
    table = out[header.end() :]
    for backend, row in rows.items():
        assert re.search(rf"^ *{re.escape(backend)} +{row['numerics']} ", table, re.M), backend
        assert row["rel_err"] <= row["bound"]
    for skip in run["rnnref"]["skipped"]:
        assert f"skipped {skip['case']}: {skip['reason']}" in out
