"""In a real run, a wrong backend's row fails loudly: not timed, listed as failed, exit 1."""

import dataclasses
import json

from bench import presets
from bench.backends import BACKENDS, PathBackend
from bench.cases import Case
from bench.check import BOUNDS
from bench.presets import Preset
from bench.reference_speed import MATRIX_BAR
from bench.run import run


class WrongTorch(PathBackend):
    """torch eager with outputs off by 1%: the gate must refuse it."""

    def build(self, problem):
        runner = super().build(problem)
        outputs = runner.outputs
        return dataclasses.replace(
            runner, outputs=lambda: {k: v * 1.01 for k, v in outputs().items()}
        )


def test_wrong_backend_row_fails_and_is_not_timed(tmp_path, monkeypatch, capsys):
    cases = (
        Case("gru", "inference", "numpy", 2, 3, 4, 5),
        Case("gru", "inference", "torch", 2, 3, 4, 5),
    )
    monkeypatch.setitem(BACKENDS, "torch", WrongTorch("torch", BACKENDS["torch"].path))
    monkeypatch.setitem(presets.PRESETS, "wrong", lambda: Preset("wrong", "test", cases, 1, 0.01))
    code = run("wrong", None, tmp_path)
    assert code == 1
    (run_path,) = tmp_path.glob("*.json")
    document = json.loads(run_path.read_text())
    assert [b["extra_info"]["backend"] for b in document["benchmarks"]] == ["numpy"]
    (failed,) = document["rnnref"]["failed"]
    assert failed["case"] == cases[1].id and "exceeds the fp32 bound" in failed["error"]
    assert f"FAILED {cases[1].id}" in capsys.readouterr().out
    # the run file carries the bars the report checks it against
    assert document["rnnref"]["bounds"] == BOUNDS
    assert document["rnnref"]["reference_bar"] == MATRIX_BAR
