"""The layer record: one definition (LayerIdentity and the probes of PROBES), the findings
schema that documents it, and a probe added in one place.

TensorBoard files are read back with TensorBoard's own EventAccumulator.
"""

import json
import pathlib
from typing import ClassVar

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from diagnostics import diagnose
from diagnostics.layerrecord import IDENTITY_SCHEMA, record_schema
from diagnostics.probes import recurrent
from diagnostics.tboard import write_tensorboard, write_watch_step
from reports.findingsfile import validate

SCHEMA = (
    pathlib.Path(__file__).resolve().parents[2] / "reports/schemas/rnnref-findings-1.schema.json"
)
STEPS = 6


class Tagger(nn.Module):
    """A bidirectional GRU, then a GRUCell stepped over its output in a Python loop."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 5, bidirectional=True)
        self.cell = nn.GRUCell(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        h, states = None, []
        for t in range(out.shape[0]):
            h = self.cell(out[t], h)
            states.append(h)
        return torch.stack(states)


def probed() -> dict:
    torch.manual_seed(0)
    return diagnose(Tagger(), torch.randn(STEPS, 2, 3))


def documented_record() -> dict:
    """``$defs/recurrent`` of the findings schema reports validates with."""
    return json.loads(SCHEMA.read_text())["$defs"]["recurrent"]


def schema_differences(documented: dict) -> list[str]:
    """The keys whose schema in ``documented`` is not the record's (one missing on either
    side included), then "required" when the required keys differ."""
    expected = record_schema()
    keys = sorted(set(documented["properties"]) | set(expected["properties"]))
    wrong = [k for k in keys if documented["properties"].get(k) != expected["properties"].get(k)]
    if sorted(documented["required"]) != sorted(expected["required"]):
        wrong.append("required")
    return wrong


def test_the_findings_schema_documents_every_key_of_the_record():
    assert schema_differences(documented_record()) == []


def test_no_key_is_filled_twice():
    keys = [*IDENTITY_SCHEMA["properties"]]
    keys += [key for probe in recurrent.PROBES for key in probe.schema["properties"]]
    assert len(keys) == len(set(keys))


def test_records_hold_the_identity_then_every_probes_keys_in_order():
    doc = probed()
    validate(doc)
    probe_keys = [key for probe in recurrent.PROBES for key in probe.schema["properties"]]
    records = doc["probes"]["recurrent"]
    assert [(r["module"], r["direction"]) for r in records] == [
        ("gru", 0),
        ("gru", 1),
        ("cell", 0),
    ]
    for record in records:
        stepped = ["stepped"] if record["module"] == "cell" else []
        head = ["module", "cell", "layer", "direction", *stepped]
        assert list(record) == [*head, "steps", "batch", "hidden", "trusted", *probe_keys]
    assert records[0]["step_jacobian"]["samples"] > 0
    assert records[2]["step_jacobian"] == {"mean": None, "max": None, "samples": 0}


class StepCount(recurrent.LayerProbe):
    """A toy probe: the steps of the view's states."""

    schema: ClassVar[dict] = {
        "properties": {"toy_steps": {"type": "integer", "minimum": 0}},
        "required": ["toy_steps"],
    }

    def fields(self, view):
        return {"toy_steps": int(view.states.shape[0])}

    def curves(self, record, tag):
        yield f"toy_curve/{tag}", [float(record["toy_steps"]), 1.0]

    def scalars(self, record, tag):
        yield f"toy/{tag}", float(record["toy_steps"])


def events(log_dir: pathlib.Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def test_a_probe_added_to_probes_fills_its_key_shows_in_tensorboard_and_needs_its_schema(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(recurrent, "PROBES", (*recurrent.PROBES, StepCount()))
    doc = probed()
    records = doc["probes"]["recurrent"]
    assert [r["toy_steps"] for r in records] == [STEPS] * 3
    assert all(list(r)[-1] == "toy_steps" for r in records)

    write_tensorboard(doc, tmp_path / "doc")
    curve = events(tmp_path / "doc").Scalars("toy_curve/gru/l0_reverse")
    assert [(e.step, e.value) for e in curve] == [(0, STEPS), (1, 1.0)]
    writer = SummaryWriter(log_dir=str(tmp_path / "watch"))
    write_watch_step(writer, doc["probes"], 7)
    writer.close()
    watched = events(tmp_path / "watch").Scalars("toy/cell/l0_forward")
    assert [(e.step, e.value) for e in watched] == [(7, STEPS)]

    documented = documented_record()
    assert schema_differences(documented) == ["toy_steps", "required"]
    documented["properties"]["toy_steps"] = {"type": "integer", "minimum": 0}
    documented["required"].append("toy_steps")
    assert schema_differences(documented) == []


class Misnamed(StepCount):
    """A probe whose keys are not the ones its schema names."""

    def fields(self, view):
        return {"toy_step": 0}


def test_a_probe_filling_other_keys_than_its_schema_is_the_suites_bug(monkeypatch):
    monkeypatch.setattr(recurrent, "PROBES", (*recurrent.PROBES, Misnamed()))
    with pytest.raises(RuntimeError, match=r"Misnamed returned \['toy_step'\]"):
        probed()
