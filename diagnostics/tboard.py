"""TensorBoard event files from a findings document (torch.utils.tensorboard).

Scalars (x axis = step):
  grad_through_time/<module>/l<L>_<dir>/dL_dh   ||dL/dh_t||, real gradient, t = time step
  grad_through_time/<module>/l<L>_<dir>/dL_dc   same for an LSTM's cell
  end_gradient/<module>/l<L>_<dir>/dL_dh        gradient from the end, x = steps back
  params/grad_norm/<parameter>                  one value per parameter
  train/loss, train/grad_norm                   per --steps step
Histograms: gates/<module>/l<L>_<dir>/<gate>, units/... (tanh states),
relu/... (ReLU states), grad/<parameter> (parameter gradients).
"""

from __future__ import annotations

import pathlib
from typing import Any

from torch.utils.tensorboard import SummaryWriter


def _tag(record: dict[str, Any]) -> str:
    direction = "reverse" if record["direction"] else "forward"
    return f"{record['module']}/l{record['layer']}_{direction}"


def _curve(writer: SummaryWriter, tag: str, values: list[float | None] | None) -> None:
    for step, value in enumerate(values or []):
        if value is not None:
            writer.add_scalar(tag, value, step)


def _histogram(writer: SummaryWriter, tag: str, hist: dict[str, Any] | None) -> None:
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
        global_step=0,
    )


def write_tensorboard(doc: dict[str, Any], log_dir: pathlib.Path) -> None:
    """Write the probes of ``doc`` as TensorBoard scalars and histograms under ``log_dir``."""
    probes = doc["probes"]
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for record in probes["recurrent"]:
            tag = _tag(record)
            _curve(writer, f"grad_through_time/{tag}/dL_dh", record["grad_states_norm"])
            _curve(writer, f"grad_through_time/{tag}/dL_dc", record["grad_cells_norm"])
            _curve(writer, f"end_gradient/{tag}/dL_dh", record["end_curve"])
            _curve(writer, f"end_gradient/{tag}/dL_dc", record["end_cell_curve"])
            for gate, stats in record["saturation"]["gates"].items():
                _histogram(writer, f"gates/{tag}/{gate}", stats["histogram"])
            units = record["saturation"]["units"]
            if units is not None:
                _histogram(writer, f"units/{tag}", units["histogram"])
            if record["dead_units"] is not None:
                _histogram(writer, f"relu/{tag}", record["dead_units"]["histogram"])
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
