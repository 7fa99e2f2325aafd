"""All probes of one replayed recurrent layer, per layer and direction, as JSON-ready dicts."""

from __future__ import annotations

from typing import Any

import rnnref
from diagnostics.probes import gradtime, nonfinite, saturation, spectrum
from diagnostics.probes.stats import num
from diagnostics.replay import Replay


def probe_layer(rep: Replay, seed: int) -> list[dict[str, Any]]:
    """One record per (layer, direction) of a replayed module.

    Keys: module, cell, layer, direction, steps, batch, hidden, trusted,
    states_norm (T, real time: RMS over sequences of ||h_t||, padding left out),
    h_n_norm (RMS over sequences of ||h|| at each one's last step in that direction),
    grad_states_norm (T, real time, real upstream gradient), grad_cells_norm
    (LSTM), end_curve (T, steps back, end pass, 1 at k = 0), end_cell_curve
    (LSTM), decay_per_step, horizon, growth, spectrum, step_jacobian,
    saturation, dead_units (ReLU RNN), nonfinite, grad_subnormal_fraction (of the real
    gradient's values, those float32 holds only as subnormals), steps_reached (steps the
    real gradient reaches) and reach_span (how many of the steps the direction runs first
    hold them: :func:`gradtime.reach`).
    """
    kind = rep.model.cell_type.name
    records = []
    for layer, direction in rep.keys:
        trace = rep.traces[(layer, direction)]
        reverse = bool(direction)
        w_hh = rep.model.params["weight_hh" + rnnref.param_suffix(layer, direction)]
        end = gradtime.end_curve(rep.end_states[(layer, direction)], rep.end_mask, reverse)
        end_cells = rep.end_cells[(layer, direction)]
        record: dict[str, Any] = {
            "module": rep.call.name,
            "cell": kind,
            "layer": layer,
            "direction": direction,
            "steps": int(trace.states.shape[0]),
            "batch": int(trace.states.shape[1]),
            "hidden": int(rep.model.hidden_size),
            "trusted": rep.trusted,
            "states_norm": gradtime.state_curve(trace.states, trace.mask),
            "h_n_norm": gradtime.final_state_norm(trace.states, trace.mask, reverse),
            "grad_states_norm": gradtime.real_curve(trace.grad_states),
            **gradtime.reach(trace.grad_states, reverse),
            "grad_cells_norm": None
            if trace.grad_cells is None
            else gradtime.real_curve(trace.grad_cells),
            "end_curve": [num(v) for v in end],
            "end_cell_curve": None
            if end_cells is None
            else [num(v) for v in gradtime.end_curve(end_cells, rep.end_mask, reverse)],
            **gradtime.summarize(end),
            "spectrum": spectrum.recurrent_spectrum(w_hh, kind),
            "step_jacobian": spectrum.step_jacobian_norms(rep.model, trace, layer, direction, seed),
            "saturation": saturation.saturation(trace, kind),
            "dead_units": saturation.dead_units_of(trace, kind),
            "nonfinite": nonfinite.layer_nonfinite(trace.states, trace.grad_states, reverse),
            "grad_subnormal_fraction": gradtime.subnormal_fraction(trace.grad_states),
        }
        records.append(record)
    return records
