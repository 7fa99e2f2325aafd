"""The user's own model and its input, as both ``bench`` and ``diagnostics`` take them.

``load_target("file.py:factory")`` builds the model, ``load_checkpoint`` loads
its weights (``torch.load(weights_only=True)``), ``parse_spec`` and
``load_tensor`` give its input; every failure is a :class:`UsageError` whose
``str()`` is one line for the command to print before exiting 2.
"""

from usermodel.errors import UsageError, describe_exception, one_line
from usermodel.inputs import InputSpec, load_tensor, parse_spec
from usermodel.target import load_checkpoint, load_target, target_name

__all__ = [
    "InputSpec",
    "UsageError",
    "describe_exception",
    "load_checkpoint",
    "load_target",
    "load_tensor",
    "one_line",
    "parse_spec",
    "target_name",
]
