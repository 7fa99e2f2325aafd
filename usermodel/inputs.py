"""The input the model is probed on: a SPEC to sample, or a data file.

SPEC is ``dtype[d0,d1,...]`` with an optional ``<high`` for integer token ids:
``float32[32,50,16]`` draws standard normal values, ``int64[32,40]<1000``
draws ids uniformly from ``[0, 1000)``. A SPEC whose tensor would not fit in
the memory available now is refused before anything is allocated. Data files:
``.pt`` (a tensor saved with ``torch.save``, loaded with ``weights_only=True``),
``.npy``, ``.npz`` (its first array); a tensor with no element (a zero-size
batch) is refused. Every failure is a :class:`~usermodel.errors.UsageError`.
"""

from __future__ import annotations

import math
import pathlib
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from usermodel.errors import UsageError, describe_exception
from usermodel.memory import available_bytes, describe_bytes

_SPEC = re.compile(r"(?P<dtype>[a-z]+[0-9]*)\[(?P<shape>[0-9,]*)\](?:<(?P<high>[0-9]+))?")
_FLOATS = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_INTS = {"int32": torch.int32, "int64": torch.int64}
_NAMES = {dtype: name for name, dtype in {**_FLOATS, **_INTS}.items()}
_MAX_DIGITS = 18
"""A dimension or bound with more digits is refused before int() (beyond any memory)."""


@dataclass(frozen=True)
class InputSpec:
    """A parsed SPEC: dtype, shape and, for integer ids, the exclusive upper bound."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    high: int | None

    def __str__(self) -> str:
        """The SPEC text that parses back to this spec: ``int64[32,40]<1000``."""
        text = f"{_NAMES[self.dtype]}[{','.join(map(str, self.shape))}]"
        return text if self.high is None else f"{text}<{self.high}"

    @property
    def nbytes(self) -> int:
        """Bytes of the sampled tensor."""
        return math.prod(self.shape) * self.dtype.itemsize

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """A tensor of ``shape``: N(0, 1) floats or ids uniform in ``[0, high)``."""
        if self.high is None:
            return torch.randn(self.shape, generator=generator).to(self.dtype)
        return torch.randint(0, self.high, self.shape, generator=generator, dtype=self.dtype)


def parse_spec(text: str) -> InputSpec:
    """Parse ``float32[32,50,16]`` or ``int64[32,40]<1000`` (spaces are ignored).

    Raises:
        UsageError: malformed text, unknown dtype, an empty, zero or too large
            dimension, an integer dtype without ``<high`` (or a bound beyond the
            dtype) or a float dtype with one, or a tensor larger than the memory
            available now.
    """
    match = _SPEC.fullmatch(text.replace(" ", ""))
    example = "e.g. float32[32,50,16] or int64[32,40]<1000"
    if match is None:
        raise UsageError(f"input spec {text!r}: expected dtype[d0,d1,...] ({example})")
    name, dims, high = match["dtype"], match["shape"], match["high"]
    if name not in _FLOATS and name not in _INTS:
        known = ", ".join([*_FLOATS, *_INTS])
        raise UsageError(f"input spec {text!r}: unknown dtype {name!r} (known: {known})")
    if not dims:
        raise UsageError(f"input spec {text!r}: give at least one positive integer dimension")
    parts = dims.split(",")
    for i, part in enumerate(parts, 1):
        if not part:
            raise UsageError(f"input spec {text!r}: dimension {i} is empty")
        if len(part.lstrip("0")) > _MAX_DIGITS or int(part) < 1:
            raise UsageError(
                f"input spec {text!r}: dimension {i} ({part}) must be a positive integer "
                f"below 10**{_MAX_DIGITS}"
            )
    shape = tuple(int(part) for part in parts)
    if name in _INTS and high is None:
        raise UsageError(
            f"input spec {text!r}: integer ids need an upper bound, e.g. {name}[32,40]<1000"
        )
    if name in _FLOATS and high is not None:
        raise UsageError(f"input spec {text!r}: '<{high}' only applies to integer dtypes")
    dtype = _FLOATS.get(name) or _INTS[name]
    if high is not None:
        most = torch.iinfo(dtype).max if dtype == torch.int64 else torch.iinfo(dtype).max + 1
        if len(high.lstrip("0")) > 19 or not 1 <= int(high) <= most:
            raise UsageError(
                f"input spec {text!r}: the upper bound must be at least 1 and at most {most}"
            )
    spec = InputSpec(dtype, shape, None if high is None else int(high))
    free = available_bytes()
    if spec.nbytes > free:
        raise UsageError(
            f"input spec {text!r}: the input alone needs {describe_bytes(spec.nbytes)}, more "
            f"than the {describe_bytes(free)} of memory available"
        )
    return spec


def load_pt(path: pathlib.Path, label: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; every failure is a UsageError.

    ``label`` names the file in the message (``data file x.pt``, ``checkpoint c.pt``).
    A pickle that would import or call anything (not tensors and plain containers) is
    refused by torch without running it; the message says which global it wanted.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        refusal = _weights_only_refusal(exc)
        if refusal:
            raise UsageError(
                f"{label}: refused by torch.load(weights_only=True), which loads only tensors "
                f"and plain containers and runs no code: {refusal}"
            ) from exc
        raise UsageError(f"{label}: cannot be loaded: {describe_exception(exc)}") from exc


def _weights_only_refusal(exc: Exception) -> str | None:
    """The line of torch's weights-only error that says what it refused, else None."""
    if "Weights only load failed" not in str(exc):
        return None
    for line in str(exc).splitlines():
        line = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if line.lower().startswith(("unsupported", "trying to load")):
            return line.split(". Please")[0].rstrip(".")
    return "not a file of tensors"


def require_file(path: pathlib.Path, label: str) -> None:
    """UsageError ``LABEL: no such file`` (``not a regular file`` for a folder or a device,
    or the OS's reason, e.g. a name too long) unless ``path`` is a regular file."""
    try:
        found = path.is_file()
    except OSError as exc:  # ENAMETOOLONG, EACCES: pathlib only hides "not found"
        raise UsageError(f"{label}: {exc.strerror or exc}") from None
    if not found:
        raise UsageError(f"{label}: {'not a regular file' if path.exists() else 'no such file'}")


def load_tensor(path: pathlib.Path, what: str = "data") -> tuple[torch.Tensor, str]:
    """Load one tensor from ``.pt``, ``.npy`` or ``.npz``; return it and where it came from.

    Raises:
        UsageError: missing file, unknown suffix, unreadable content, no tensor
            inside, or a tensor with no element (a zero-size batch).
    """
    require_file(path, f"{what} file {path}")
    suffix = path.suffix.lower()
    if suffix not in (".pt", ".npy", ".npz"):
        raise UsageError(f"{what} file {path}: unknown suffix {suffix!r} (use .pt, .npy or .npz)")
    if suffix == ".pt":
        value, where = load_pt(path, f"{what} file {path}"), str(path)
        if not isinstance(value, torch.Tensor):
            raise UsageError(
                f"{what} file {path}: holds a {type(value).__name__}, not a tensor "
                "(save one tensor with torch.save(x, path))"
            )
    else:
        value, where = _load_numpy(path, what)
    if value.numel() == 0:
        raise UsageError(
            f"{what} file {path}: the tensor of shape {tuple(value.shape)} has no element "
            "(a zero-size batch cannot be probed)"
        )
    return value, where


def _load_numpy(path: pathlib.Path, what: str) -> tuple[torch.Tensor, str]:
    try:
        if path.suffix.lower() == ".npy":
            return _from_numpy(np.load(path, allow_pickle=False), path, what), str(path)
        with np.load(path, allow_pickle=False) as archive:
            if not archive.files:
                raise UsageError(f"{what} file {path}: the archive holds no array")
            key = archive.files[0]
            return _from_numpy(archive[key], path, what), f"{path}[{key!r}]"
    except UsageError:
        raise
    except (OSError, ValueError, RuntimeError, MemoryError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"{what} file {path}: cannot be read: {describe_exception(exc)}") from exc


def _from_numpy(array: np.ndarray, path: pathlib.Path, what: str) -> torch.Tensor:
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{what} file {path}: array of dtype {array.dtype} is not numeric")
    return torch.from_numpy(np.ascontiguousarray(array))
