"""All probes of one replayed recurrent layer, per layer and direction."""

from __future__ import annotations

import rnnref
from diagnostics.layerrecord import LayerIdentity, LayerRecord
from diagnostics.probes.view import LayerView, ReplayedStep
from diagnostics.replay import Replay


def layer_view(rep: Replay, layer: int, direction: int, seed: int) -> LayerView:
    """The view of one layer and direction of a replayed module (its real pass in the
    replay's dtype, its end pass in float64)."""
    trace = rep.traces[(layer, direction)]
    return LayerView(
        kind=rep.model.cell_type.name,
        reverse=bool(direction),
        states=trace.states,
        mask=trace.mask,
        gates=trace.gates,
        grad_states=trace.grad_states,
        grad_cells=trace.grad_cells,
        end_states=rep.end_states[(layer, direction)],
        end_cells=rep.end_cells[(layer, direction)],
        end_mask=rep.end_mask,
        w_hh=rep.model.params["weight_hh" + rnnref.param_suffix(layer, direction)],
        replayed=ReplayedStep(rep.model, trace, layer, direction, seed),
    )


def probe_layer(rep: Replay, seed: int) -> list[LayerRecord]:
    """One record per (layer, direction) of a replayed module, in ``rep.keys`` order; the
    probes are :data:`diagnostics.probes.recurrent.PROBES`, the step Jacobians sampled
    with ``seed``."""
    records = []
    for layer, direction in rep.keys:
        trace = rep.traces[(layer, direction)]
        identity = LayerIdentity(
            module=rep.call.name,
            cell=rep.model.cell_type.name,
            layer=layer,
            direction=direction,
            steps=int(trace.states.shape[0]),
            batch=int(trace.states.shape[1]),
            hidden=int(rep.model.hidden_size),
            trusted=rep.trusted,
        )
        records.append(LayerRecord.probe(identity, layer_view(rep, layer, direction, seed)))
    return records
