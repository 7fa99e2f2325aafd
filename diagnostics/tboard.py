"""TensorBoard event files from a findings document (torch.utils.tensorboard).

Scalars (x axis = step):
  grad_through_time/<module>/l<L>_<dir>/dL_dh   ||dL/dh_t||, real gradient, t = time step
  grad_through_time/<module>/l<L>_<dir>/dL_dc   same for an LSTM's cell
  end_gradient/<module>/l<L>_<dir>/dL_dh        gradient from the end, x = steps back
  params/grad_norm/<parameter>                  one value per parameter
  train/loss, train/grad_norm                   per --steps step
Histograms: gates/<module>/l<L>_<dir>/<gate>, units/... (tanh states),
relu/... (ReLU states), grad/<parameter> (parameter gradients).
What each layer record shows is its probes' (:data:`diagnostics.probes.recurrent.PROBES`:
curves and histograms here, scalars and histograms in a watched loop); this module only
writes them.

:func:`write_watch_step` writes one sampled step of a watched training loop
(:mod:`diagnostics.watch`) with x axis = the training step instead:
  train/loss, train/grad_norm                  the user's loss, global gradient norm
  horizon/<tag>, decay_per_step/<tag>          gradient through time from the end
  grad_growth/<tag>                            largest growth of that gradient going back
  spectrum/<tag>/<gate>                        sigma_max(W_hh block) / Pascanu's bound
  saturation/<tag>/<gate>, saturation/<tag>/units   hard-saturated fraction
  dead_units/<tag>                             fraction of ReLU units that never fire
  hidden/<tag>/h_n_norm, hidden/<tag>/h_t_norm_max   hidden-state norms
  params/grad_norm/<parameter>
and the same histograms at that step.
"""

from __future__ import annotations

import pathlib
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from diagnostics.probes import recurrent


def _tag(record: dict[str, Any]) -> str:
    direction = "reverse" if record["direction"] else "forward"
    return f"{record['module']}/l{record['layer']}_{direction}"


def _curve(writer: SummaryWriter, tag: str, values: list[float | None] | None) -> None:
    for step, value in enumerate(values or []):
        if value is not None:
            writer.add_scalar(tag, value, step)


def _histogram(writer: SummaryWriter, tag: str, hist: dict[str, Any] | None, step: int = 0) -> None:
    if not hist or not hist["num"] or hist["min"] is None or hist["max"] is None:
        return
    writer.add_histogram_raw(
        tag,
        min=hist["min"],
        max=hist["max"],
        num=hist["num"],
        sum=hist["sum"] or 0.0,
        sum_squares=hist["sum_squares"] or 0.0,
        bucket_limits=hist["edges"][1:],
        bucket_counts=hist["counts"],
        global_step=step,
    )


def write_tensorboard(doc: dict[str, Any], log_dir: pathlib.Path) -> None:
    """Write the probes of ``doc`` as TensorBoard scalars and histograms under ``log_dir``."""
    probes = doc["probes"]
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for record in probes["recurrent"]:
            tag = _tag(record)
            for probe in recurrent.PROBES:
                for name, values in probe.curves(record, tag):
                    _curve(writer, name, values)
                for name, hist in probe.histograms(record, tag):
                    _histogram(writer, name, hist)
        for param in probes["whole_model"]["parameters"]:
            if param["grad_norm"] is not None:
                writer.add_scalar(f"params/grad_norm/{param['name']}", param["grad_norm"], 0)
            _histogram(writer, f"grad/{param['name']}", param["grad_histogram"])
        training = probes.get("training")
        if training:
            _curve(writer, "train/loss", training["losses"])
            _curve(writer, "train/grad_norm", training["grad_norms"])
    finally:
        writer.close()


def _scalar(writer: SummaryWriter, tag: str, value: float | None, step: int) -> None:
    if value is not None:
        writer.add_scalar(tag, value, step)


def write_watch_step(writer: SummaryWriter, probes: dict[str, Any], step: int) -> None:
    """Scalars and histograms of one probed training step at ``global_step=step``."""
    _scalar(writer, "train/loss", probes["loss"], step)
    _scalar(writer, "train/grad_norm", probes["whole_model"]["global_grad_norm"], step)
    for record in probes["recurrent"]:
        tag = _tag(record)
        for probe in recurrent.PROBES:
            for name, value in probe.scalars(record, tag):
                _scalar(writer, name, value, step)
            for name, hist in probe.histograms(record, tag):
                _histogram(writer, name, hist, step)
    for param in probes["whole_model"]["parameters"]:
        _scalar(writer, f"params/grad_norm/{param['name']}", param["grad_norm"], step)
        _histogram(writer, f"grad/{param['name']}", param["grad_histogram"], step)
