"""The record of one probed recurrent layer and direction: which layer it is, and what every
probe of :data:`diagnostics.probes.recurrent.PROBES` found there.

:meth:`LayerRecord.to_json` is the record findings.json holds under ``probes.recurrent``
(the dict rules, reports and TensorBoard read); :func:`record_schema` is its JSON Schema,
which ``$defs/recurrent`` of reports' findings schema must equal (a test holds them
together: reports does not import diagnostics).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from diagnostics.probes import recurrent
from diagnostics.probes.view import LayerView

IDENTITY_SCHEMA: dict[str, Any] = {
    "properties": {
        "module": {"type": "string"},
        "cell": {"type": "string"},
        "layer": {"type": "integer", "minimum": 0},
        "direction": {"enum": [0, 1]},
        "stepped": {
            "description": "a cell stepped in a loop, or a layer called once per step, probed "
            "through the autograd graph of its calls (absent otherwise)",
            "type": "boolean",
        },
        "steps": {"type": "integer", "minimum": 0},
        "batch": {"type": "integer", "minimum": 0},
        "hidden": {"type": "integer", "minimum": 0},
        "trusted": {"type": ["boolean", "null"]},
        "chained": {
            "description": "a layer of a module probed across its chained one-step calls",
            "type": "boolean",
        },
    },
    "required": ["module", "layer", "direction", "steps", "hidden"],
}
"""The JSON Schema of :class:`LayerIdentity`'s keys."""


@dataclass(frozen=True)
class LayerIdentity:
    """Which layer and direction a record probes, and its shape.

    module: the module's name in the model; cell: its cell type (rnnref.CELL_TYPES);
    steps T, batch B and hidden H (hidden_size; the states have P = proj_size or H
    units); trusted: the replay agrees with torch (True for a stepped layer, whose
    gradients are torch's own); stepped: probed through the autograd graph of its calls
    (a cell loop); chained: one layer of a module called once per step.
    """

    module: str
    cell: str
    layer: int
    direction: int
    steps: int
    batch: int
    hidden: int
    trusted: bool
    stepped: bool = False
    chained: bool = False

    def head(self) -> dict[str, Any]:
        """The record's keys before the probes', in findings.json's order (``stepped``
        only where it is true)."""
        head: dict[str, Any] = {
            "module": self.module,
            "cell": self.cell,
            "layer": self.layer,
            "direction": self.direction,
        }
        if self.stepped:
            head["stepped"] = True
        head.update(steps=self.steps, batch=self.batch, hidden=self.hidden, trusted=self.trusted)
        return head


@dataclass(frozen=True)
class LayerRecord:
    """One probed layer and direction: its identity and every probe's keys (read-only, in
    the order of :data:`~diagnostics.probes.recurrent.PROBES`)."""

    identity: LayerIdentity
    fields: MappingProxyType[str, Any]

    @classmethod
    def probe(cls, identity: LayerIdentity, view: LayerView) -> LayerRecord:
        """Run every probe of PROBES on ``view``.

        Raises:
            RuntimeError: a probe returned other keys than its schema names (the suite's
                own bug).
        """
        fields: dict[str, Any] = {}
        for probe in recurrent.PROBES:
            found = probe.fields(view)
            if list(found) != list(probe.schema["properties"]):
                raise RuntimeError(
                    f"{type(probe).__name__} returned {list(found)}, its schema names "
                    f"{list(probe.schema['properties'])}"
                )
            fields.update(found)
        return cls(identity, MappingProxyType(fields))

    def to_json(self) -> dict[str, Any]:
        """The record as findings.json holds it: identity, the probes' keys, then
        ``chained`` where it is true."""
        record = {**self.identity.head(), **self.fields}
        if self.identity.chained:
            record["chained"] = True
        return record


def record_schema() -> dict[str, Any]:
    """{"properties", "required"} of a record: :data:`IDENTITY_SCHEMA` and every probe's
    fragment."""
    properties = dict(IDENTITY_SCHEMA["properties"])
    required = list(IDENTITY_SCHEMA["required"])
    for probe in recurrent.PROBES:
        properties.update(probe.schema["properties"])
        required.extend(probe.schema["required"])
    return {"properties": properties, "required": required}
