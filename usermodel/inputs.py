"""The input the model is probed on: a SPEC to sample, or a data file.

SPEC is ``dtype[d0,d1,...]`` with an optional ``<high`` for integer token ids:
``float32[32,50,16]`` draws standard normal values, ``int64[32,40]<1000``
draws ids uniformly from ``[0, 1000)``. Data files: ``.pt`` (a tensor saved
with ``torch.save``, loaded with ``weights_only=True``), ``.npy``, ``.npz``
(its first array). Every failure is a :class:`~usermodel.errors.UsageError`.
"""

from __future__ import annotations

import pathlib
import re
import zipfile
from dataclasses import dataclass

import numpy as np
import torch

from usermodel.errors import UsageError, describe_exception

_SPEC = re.compile(r"^(?P<dtype>[a-z]+[0-9]*)\[(?P<shape>[0-9, ]*)\](?:<(?P<high>[0-9]+))?$")
_FLOATS = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_INTS = {"int32": torch.int32, "int64": torch.int64}


@dataclass(frozen=True)
class InputSpec:
    """A parsed SPEC: dtype, shape and, for integer ids, the exclusive upper bound."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    high: int | None

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """A tensor of ``shape``: N(0, 1) floats or ids uniform in ``[0, high)``."""
        if self.high is None:
            return torch.randn(self.shape, generator=generator).to(self.dtype)
        return torch.randint(0, self.high, self.shape, generator=generator, dtype=self.dtype)


def parse_spec(text: str) -> InputSpec:
    """Parse ``float32[32,50,16]`` or ``int64[32,40]<1000``.

    Raises:
        UsageError: unknown dtype, empty or non-positive shape, an integer
            dtype without ``<high`` or a float dtype with one.
    """
    match = _SPEC.match(text.replace(" ", ""))
    example = "e.g. float32[32,50,16] or int64[32,40]<1000"
    if match is None:
        raise UsageError(f"input spec {text!r}: expected dtype[d0,d1,...] ({example})")
    name, dims, high = match["dtype"], match["shape"], match["high"]
    if name not in _FLOATS and name not in _INTS:
        known = ", ".join([*_FLOATS, *_INTS])
        raise UsageError(f"input spec {text!r}: unknown dtype {name!r} (known: {known})")
    shape = tuple(int(d) for d in dims.split(",") if d)
    if not shape or min(shape) < 1:
        raise UsageError(f"input spec {text!r}: every dimension must be a positive integer")
    if name in _INTS and high is None:
        raise UsageError(
            f"input spec {text!r}: integer ids need an upper bound, e.g. {name}[32,40]<1000"
        )
    if name in _FLOATS and high is not None:
        raise UsageError(f"input spec {text!r}: '<{high}' only applies to integer dtypes")
    if high is not None and int(high) < 1:
        raise UsageError(f"input spec {text!r}: the upper bound must be at least 1")
    dtype = _FLOATS.get(name) or _INTS[name]
    return InputSpec(dtype, shape, None if high is None else int(high))


def load_tensor(path: pathlib.Path, what: str = "data") -> tuple[torch.Tensor, str]:
    """Load one tensor from ``.pt``, ``.npy`` or ``.npz``; return it and where it came from.

    Raises:
        UsageError: missing file, unknown suffix, unreadable content, or no tensor inside.
    """
    if not path.is_file():
        raise UsageError(f"{what} file {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pt":
            value = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(value, torch.Tensor):
                raise UsageError(
                    f"{what} file {path}: holds a {type(value).__name__}, not a tensor "
                    "(save one tensor with torch.save(x, path))"
                )
            return value, str(path)
        if suffix == ".npy":
            return _from_numpy(np.load(path, allow_pickle=False), path, what), str(path)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if not archive.files:
                    raise UsageError(f"{what} file {path}: the archive holds no array")
                key = archive.files[0]
                return _from_numpy(archive[key], path, what), f"{path}[{key!r}]"
    except UsageError:
        raise
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"{what} file {path}: cannot be read: {describe_exception(exc)}") from exc
    raise UsageError(f"{what} file {path}: unknown suffix {suffix!r} (use .pt, .npy or .npz)")


def _from_numpy(array: np.ndarray, path: pathlib.Path, what: str) -> torch.Tensor:
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{what} file {path}: array of dtype {array.dtype} is not numeric")
    return torch.from_numpy(np.ascontiguousarray(array))
