"""The probes of one recurrent layer and direction, each a small class behind one interface.

A probe computes its keys of the layer record from a :class:`~diagnostics.probes.view.LayerView`
(:meth:`LayerProbe.fields`), says what TensorBoard shows of them (:meth:`LayerProbe.curves`
in the findings document's event file, x = time step or steps back;
:meth:`LayerProbe.scalars` once per sampled step of a watched loop, x = training step;
:meth:`LayerProbe.histograms` in both) and documents them (:attr:`LayerProbe.schema`, its
fragment of the findings schema's ``$defs/recurrent``, whose ``$ref``s name that file's
``$defs``). :data:`PROBES` lists them in the order of the record's keys; adding a probe is
one class here and its entry there (and its rule, if it has one, in
:mod:`diagnostics.rules`). The TensorBoard methods read the record as findings.json holds
it: a watched loop's and the command's documents go through the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from diagnostics.probes import gradtime, nonfinite, saturation, spectrum
from diagnostics.probes.stats import nums
from diagnostics.probes.view import LayerView

Record = dict[str, Any]
"""One layer record as findings.json holds it (``probes.recurrent[i]``)."""

Curve = tuple[str, list[float | None] | None]
"""A TensorBoard tag and the values along its x axis (None values are left out)."""

Scalar = tuple[str, float | None]
"""A TensorBoard tag and its value at the sampled step (None: nothing written)."""

Histogram = tuple[str, dict[str, Any] | None]
"""A TensorBoard tag and a histogram of :func:`diagnostics.probes.stats.histogram`."""

CURVE = {"$ref": "#/$defs/curve"}
NUMBER = {"$ref": "#/$defs/number"}
NONNEGATIVE = {"$ref": "#/$defs/nonnegative"}
FRACTION = {"$ref": "#/$defs/fraction"}
STEP = {"$ref": "#/$defs/step"}
COUNT = {"type": "integer", "minimum": 0}


class LayerProbe(ABC):
    """One question asked of a probed layer and direction.

    schema: {"properties": {key: JSON Schema}, "required": [key, ...]}, the keys
    :meth:`fields` returns, in that order.
    """

    schema: ClassVar[dict[str, Any]]

    @abstractmethod
    def fields(self, view: LayerView) -> dict[str, Any]:
        """This probe's keys of the layer record, JSON-ready."""

    def curves(self, record: Record, tag: str) -> Iterable[Curve]:
        """Curves of the findings document's event file; ``tag``: module/l<L>_<dir>."""
        return ()

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        """One value each per sampled step of a watched loop."""
        return ()

    def histograms(self, record: Record, tag: str) -> Iterable[Histogram]:
        """Histograms, in the document's event file and at each sampled step."""
        return ()


class HiddenStates(LayerProbe):
    """The hidden-state norm the tutorials plot: states_norm (T, real time: RMS over
    sequences of ||h_t||, padding left out), h_n_norm (RMS over sequences of ||h|| at each
    one's last step in this direction)."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "states_norm": {
                "description": "RMS over sequences of ||h_t|| per step, real time order, "
                "padding left out (null where no sequence reaches the step)",
                **CURVE,
            },
            "h_n_norm": {
                "description": "RMS over sequences of ||h|| at each one's last step in this "
                "direction",
                **NONNEGATIVE,
            },
        },
        "required": [],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        return {
            "states_norm": gradtime.state_curve(view.states, view.mask),
            "h_n_norm": gradtime.final_state_norm(view.states, view.mask, view.reverse),
        }

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        finite = [v for v in record["states_norm"] if v is not None]
        yield f"hidden/{tag}/h_n_norm", record["h_n_norm"]
        yield f"hidden/{tag}/h_t_norm_max", max(finite) if finite else None


class RealGradient(LayerProbe):
    """The loss's real gradient: grad_states_norm (T, real time, ||dL/dh_t|| over batch and
    units), grad_cells_norm (the same of dL/dc_t, LSTM; else None), steps_reached and
    reach_span (how far into the direction it reaches: :func:`gradtime.reach`)."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "grad_states_norm": CURVE,
            "steps_reached": {
                "description": "steps of this direction the loss's real gradient reaches",
                **COUNT,
            },
            "reach_span": {
                "description": "how many of the steps the direction runs first hold all "
                "those it reaches",
                **COUNT,
            },
            "grad_cells_norm": CURVE,
        },
        "required": [],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        cells = view.grad_cells
        return {
            "grad_states_norm": gradtime.real_curve(view.grad_states),
            **gradtime.reach(view.grad_states, view.reverse),
            "grad_cells_norm": None if cells is None else gradtime.real_curve(cells),
        }

    def curves(self, record: Record, tag: str) -> Iterable[Curve]:
        yield f"grad_through_time/{tag}/dL_dh", record["grad_states_norm"]
        yield f"grad_through_time/{tag}/dL_dc", record["grad_cells_norm"]


class EndGradient(LayerProbe):
    """A gradient put on the direction's final state, going back: end_curve (T, steps back,
    1 at k = 0), end_cell_curve (the same of the cell, LSTM; else None), and the curve's
    decay_per_step, horizon and growth (:func:`gradtime.summarize`)."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "end_curve": CURVE,
            "end_cell_curve": CURVE,
            "decay_per_step": NUMBER,
            "horizon": STEP,
            "growth": NUMBER,
        },
        "required": ["horizon", "decay_per_step", "growth"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        end = gradtime.end_curve(view.end_states, view.end_mask, view.reverse)
        cells = view.end_cells
        return {
            "end_curve": nums(end),
            "end_cell_curve": None
            if cells is None
            else nums(gradtime.end_curve(cells, view.end_mask, view.reverse)),
            **gradtime.summarize(end),
        }

    def curves(self, record: Record, tag: str) -> Iterable[Curve]:
        yield f"end_gradient/{tag}/dL_dh", record["end_curve"]
        yield f"end_gradient/{tag}/dL_dc", record["end_cell_curve"]

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        yield f"horizon/{tag}", record["horizon"]
        yield f"decay_per_step/{tag}", record["decay_per_step"]
        yield f"grad_growth/{tag}", record["growth"]


class Spectrum(LayerProbe):
    """Largest singular values of W_hh per gate block against Pascanu's bound."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "spectrum": {
                "type": "object",
                "properties": {
                    "finite": {"type": "boolean"},
                    "blocks": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {
                                "activation": {"type": "string"},
                                "sigma_max": NONNEGATIVE,
                                "bound": {"type": "number", "exclusiveMinimum": 0},
                                "below_bound": {"type": "boolean"},
                                "top": CURVE,
                            },
                            "required": ["sigma_max", "bound"],
                        },
                    },
                },
                "required": ["blocks"],
            },
        },
        "required": ["spectrum"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        return {"spectrum": spectrum.recurrent_spectrum(view.w_hh, view.kind)}

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        for gate, block in record["spectrum"]["blocks"].items():
            ratio = None if block["sigma_max"] is None else block["sigma_max"] / block["bound"]
            yield f"spectrum/{tag}/{gate}", ratio


NOT_SAMPLED = {"mean": None, "max": None, "samples": 0}
"""The step Jacobian of a layer whose trajectory is not replayed (a cell loop)."""


class StepJacobian(LayerProbe):
    """Spectral norms of the real step Jacobians along the trajectory (replayed layers)."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "step_jacobian": {
                "type": "object",
                "properties": {"mean": NONNEGATIVE, "max": NONNEGATIVE, "samples": COUNT},
                "required": ["mean"],
            },
        },
        "required": ["step_jacobian"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        step = view.replayed
        if step is None:
            return {"step_jacobian": dict(NOT_SAMPLED)}
        norms = spectrum.step_jacobian_norms(
            step.model, step.trace, step.layer, step.direction, step.seed
        )
        return {"step_jacobian": norms}


ACTIVATION_STATS = {"type": "object", "$ref": "#/$defs/activation_stats"}


class Saturation(LayerProbe):
    """Saturated gates and tanh units along the real trajectory."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "saturation": {
                "type": "object",
                "properties": {
                    "gates": {"type": "object", "additionalProperties": ACTIVATION_STATS},
                    "units": {**ACTIVATION_STATS, "type": ["object", "null"]},
                    "mean_forget": FRACTION,
                },
                "required": ["gates", "mean_forget"],
            },
        },
        "required": ["saturation"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        return {"saturation": saturation.saturation(view, view.kind)}

    @staticmethod
    def measures(record: Record, tag: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
        """(scalar tag, histogram tag, stats) of each gate, then of the tanh units."""
        for gate, stats in record["saturation"]["gates"].items():
            yield f"saturation/{tag}/{gate}", f"gates/{tag}/{gate}", stats
        units = record["saturation"]["units"]
        if units is not None:
            yield f"saturation/{tag}/units", f"units/{tag}", units

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        return [(name, stats["hard"]) for name, _, stats in self.measures(record, tag)]

    def histograms(self, record: Record, tag: str) -> Iterable[Histogram]:
        return [(name, stats["histogram"]) for _, name, stats in self.measures(record, tag)]


class DeadUnits(LayerProbe):
    """ReLU units that never fire (None for other state activations)."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "dead_units": {
                "type": ["object", "null"],
                "properties": {
                    "count": COUNT,
                    "fraction": FRACTION,
                    "units": {"type": "array", "items": COUNT},
                    "histogram": {"type": "object", "$ref": "#/$defs/histogram"},
                },
                "required": ["count", "histogram"],
            },
        },
        "required": ["dead_units"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        return {"dead_units": saturation.dead_units_of(view, view.kind)}

    def scalars(self, record: Record, tag: str) -> Iterable[Scalar]:
        if record["dead_units"] is not None:
            yield f"dead_units/{tag}", record["dead_units"]["fraction"]

    def histograms(self, record: Record, tag: str) -> Iterable[Histogram]:
        if record["dead_units"] is not None:
            yield f"relu/{tag}", record["dead_units"]["histogram"]


class NonFinite(LayerProbe):
    """The first step holding NaN/Inf, forward and backward."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "nonfinite": {
                "type": "object",
                "properties": {"forward_step": STEP, "backward_step": STEP},
                "required": ["forward_step", "backward_step"],
            },
        },
        "required": ["nonfinite"],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        found = nonfinite.layer_nonfinite(view.states, view.grad_states, view.reverse)
        return {"nonfinite": found}


class SubnormalGradient(LayerProbe):
    """The share of the real gradient's values that float32 holds only as subnormals."""

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "grad_subnormal_fraction": {
                "description": "share of the real gradient's values dL/dh_t that are "
                "subnormal in float32 (null when there are none or some are not finite)",
                **FRACTION,
            },
        },
        "required": [],
    }

    def fields(self, view: LayerView) -> dict[str, Any]:
        return {"grad_subnormal_fraction": gradtime.subnormal_fraction(view.grad_states)}


PROBES: tuple[LayerProbe, ...] = (
    HiddenStates(),
    RealGradient(),
    EndGradient(),
    Spectrum(),
    StepJacobian(),
    Saturation(),
    DeadUnits(),
    NonFinite(),
    SubnormalGradient(),
)
"""Every probe of a layer record, in the order of its keys."""
