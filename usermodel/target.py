"""Load the user's model: ``path/to/file.py:factory`` or ``package.module:factory``.

The factory is called with no arguments and must return an ``nn.Module``.
``--checkpoint`` is a state_dict loaded with ``torch.load(weights_only=True)``.
Every failure is a :class:`~usermodel.errors.UsageError` naming the target.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import sys
from collections.abc import Mapping
from types import ModuleType

import torch
from torch import nn

from usermodel.errors import UsageError, describe_exception
from usermodel.inputs import load_pt, require_file


def target_name(target: str) -> str:
    """A short name for output folders: ``<file stem or last module part>-<factory>``."""
    spec, _, factory = target.rpartition(":")
    stem = pathlib.Path(spec).stem if spec.endswith(".py") else spec.rsplit(".", 1)[-1]
    return f"{stem}-{factory}"


def _import_file(path: pathlib.Path, target: str) -> ModuleType:
    require_file(path, f"target {target}: {path}")
    name = f"_usermodel_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"target {target}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the user's file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise UsageError(
            f"target {target}: importing {path} failed: {describe_exception(exc)}"
        ) from exc
    finally:
        sys.path.remove(folder)
    return module


def _import_module(name: str, target: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        raise UsageError(
            f"target {target}: importing {name} failed: {describe_exception(exc)}"
        ) from exc


def load_target(target: str) -> nn.Module:
    """Import the target and call its factory; return the model it builds.

    Raises:
        UsageError: malformed target, missing file/module/factory, an exception
            (or ``sys.exit``) while importing or calling, or a factory that does not
            return an nn.Module. KeyboardInterrupt passes through.
    """
    spec, sep, factory = target.rpartition(":")
    if not sep or not spec or not factory.isidentifier():
        raise UsageError(
            f"target {target!r}: expected path/to/file.py:factory or package.module:factory"
        )
    if spec.endswith(".py"):
        module = _import_file(pathlib.Path(spec), target)
    else:
        module = _import_module(spec, target)
    build = getattr(module, factory, None)
    if build is None:
        raise UsageError(f"target {target}: {spec} has no attribute {factory!r}")
    if not callable(build):
        raise UsageError(f"target {target}: {factory} is a {type(build).__name__}, not callable")
    try:
        model = build()
    except (Exception, SystemExit) as exc:
        raise UsageError(
            f"target {target}: calling {factory}() failed: {describe_exception(exc)}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise UsageError(
            f"target {target}: {factory}() returned a {type(model).__name__}, not an nn.Module"
        )
    return model


def load_checkpoint(model: nn.Module, path: pathlib.Path) -> None:
    """Load a state_dict saved with ``torch.save(model.state_dict(), path)`` into ``model``.

    Raises:
        UsageError: unreadable file, not a state_dict, missing or unexpected
            keys, or shapes that do not match.
    """
    require_file(path, f"checkpoint {path}")
    state = load_pt(path, f"checkpoint {path}")
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise UsageError(
            f"checkpoint {path}: not a state_dict of tensors (save model.state_dict())"
        )
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise UsageError(f"checkpoint {path} does not fit the model: {'; '.join(parts)}")
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise UsageError(
            f"checkpoint {path} does not fit the model: {describe_exception(exc)}"
        ) from exc


def _few(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
