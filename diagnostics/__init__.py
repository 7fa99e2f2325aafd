"""Diagnostics: why does my RNN not learn?

``python -m diagnostics my_model.py:build --input "float32[32,100,16]"`` probes
every nn.RNN, nn.LSTM and nn.GRU inside the user's model on the real inputs
it receives, replays each through :mod:`rnnref` to see the gradient step by
step, and writes findings.json, report.html and TensorBoard logs.

``diagnose(model, x, loss_fn=None)`` (:mod:`diagnostics.pipeline`) returns
the same findings document in memory, for one batch; ``watch(model)``
(:mod:`diagnostics.monitor`) probes the user's own training loop as it runs.
"""

from typing import Any

__all__ = ["Monitor", "diagnose", "watch"]


def __getattr__(name: str) -> Any:
    """``diagnose``, ``watch`` and ``Monitor``, imported on first use (they import torch,
    which ``python -m diagnostics --help`` does not need)."""
    if name == "diagnose":
        from diagnostics.pipeline import diagnose

        return diagnose
    if name in ("watch", "Monitor"):
        from diagnostics import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module 'diagnostics' has no attribute {name!r}")
