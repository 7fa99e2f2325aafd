"""Strict JSON parsing and JSON Schema validation of the files reports reads.

The schemas are published with the package in ``reports/schemas/``
(``rnnref-run-1.schema.json``, ``rnnref-findings-1.schema.json``, JSON Schema
draft 2020-12) and checked with the ``jsonschema`` library. :func:`loads` reads
JSON the way the writers write it (no NaN or Infinity, numbers a float64
holds, bounded nesting, valid Unicode); :func:`check` validates a document
against a schema and turns the first problem into one line naming the field by
its JSON path, e.g. ``benchmarks[3].stats.median: 0 is not > 0``.
"""

from __future__ import annotations

import functools
import json
import math
import pathlib
from typing import Any

import jsonschema

SCHEMAS = pathlib.Path(__file__).with_name("schemas")
"""Folder of the published JSON Schema files."""

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (the writers nest at most about 8)."""

MAX_INT_DIGITS = 20
"""Longest integer accepted, in digits: every count and size the writers store is shorter."""


class NotStrictJSON(ValueError):
    """JSON that parses but is not what the writers produce; ``str()`` says why."""


@functools.cache
def _validator(name: str, ref: str = "") -> jsonschema.protocols.Validator:
    """The validator of ``schemas/<name>`` (or of its ``$defs/<ref>``), with the local
    ``$ref``s written out in place (the schemas are not recursive) and a fast path for
    arrays of numbers: validating a run's raw timings is then about 5x faster."""
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    fast = jsonschema.validators.extend(base, {"items": _items(base.VALIDATORS["items"])})
    return fast(_inline(schema["$defs"][ref] if ref else schema, schema["$defs"]))


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x", ...}`` replaced by the definition (its
    siblings kept, the definition applied as ``allOf``: the same meaning in draft 2020-12)."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}
    if "$ref" in node:
        target = _inline(defs[node.pop("$ref").removeprefix("#/$defs/")], defs)
        if not node:
            return target
        node["allOf"] = [*node.get("allOf", []), target]
    return node


_BOUNDS = {
    "minimum": lambda x, b: x >= b,
    "exclusiveMinimum": lambda x, b: x > b,
    "maximum": lambda x, b: x <= b,
    "exclusiveMaximum": lambda x, b: x < b,
}


def _items(items_keyword: Any) -> Any:
    """jsonschema's ``items``, first tried as one Python loop when the items are plain
    bounded numbers; any failure goes to ``items_keyword`` for its usual error."""

    def items(validator: Any, schema: Any, instance: Any, parent: Any) -> Any:
        numbers = isinstance(schema, dict) and schema.get("type") == "number"
        if numbers and set(schema) <= {"type", *_BOUNDS} and isinstance(instance, list):
            bounds = [(_BOUNDS[key], value) for key, value in schema.items() if key != "type"]
            if all(type(x) in (int, float) and all(ok(x, b) for ok, b in bounds) for x in instance):
                return
        yield from items_keyword(validator, schema, instance, parent)

    return items


def _constant(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not a JSON number (non-finite values are written as null)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJSON(f"the number {text[:40]} is too large for a float")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise NotStrictJSON(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} expected)")
    return int(text)


def loads(text: str) -> Any:
    """Parse strict JSON ``text``.

    Raises:
        json.JSONDecodeError: the text is not JSON.
        NotStrictJSON: NaN or Infinity, a number beyond float64 or an integer
            longer than MAX_INT_DIGITS, nesting deeper than MAX_DEPTH, or a
            string holding a lone surrogate (not Unicode text).
    """
    try:
        doc = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise NotStrictJSON(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    _check_nesting(doc)
    return doc


def _check_nesting(doc: Any) -> None:
    """Walk ``doc`` without recursion: bounded depth, and strings that encode as UTF-8."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, str):
            _check_text(value, parts)
        elif isinstance(value, dict | list):
            if len(parts) >= MAX_DEPTH:
                where = json_path(parts[:3]) + ("…" if len(parts) > 3 else "")
                raise NotStrictJSON(f"{where} is nested too deeply (more than {MAX_DEPTH} levels)")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, parts)
                stack.append((item, (*parts, key)))


def _check_text(text: str, parts: tuple[Any, ...]) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            where = json_path(parts) or "the top level"
            raise NotStrictJSON(f"{where}: a string holds a lone surrogate, not text") from None


def json_path(parts: Any, prefix: str = "") -> str:
    """``["benchmarks", 3, "stats"] -> "benchmarks[3].stats"`` (after ``prefix``); a key that
    is not a plain name is quoted, so the path stays on one line."""
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).isidentifier():
            text += f".{part}" if text else str(part)
        else:
            text += f"[{_short(part, 40)}]"
    return text


def check(doc: Any, schema: str, ref: str = "", prefix: str = "") -> str | None:
    """Validate ``doc`` against ``reports/schemas/<schema>`` (or its ``#/$defs/<ref>``).

    Returns None when it is valid, else one line naming the first bad field
    by its JSON path (under ``prefix``) and what is wrong.
    """
    error = next(
        iter(_validator(schema, ref).iter_errors(doc)), None
    )  # the first in document order
    return None if error is None else _message(error, prefix)


_ARTICLE = {"array": "an array", "object": "an object", "integer": "an integer"}
_TYPE = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _short(value: Any, limit: int = 60) -> str:
    """A JSON value in at most ``limit`` characters, on one line (strings quoted as Python
    quotes them, numbers and true/false/null as JSON writes them)."""
    if isinstance(value, dict):
        text = "an object" if value else "{}"
    elif isinstance(value, list):
        text = "an array" if value else "[]"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(error: jsonschema.ValidationError, prefix: str) -> str:
    where = json_path(error.absolute_path, prefix)
    value, expected = error.instance, error.validator_value
    kind = error.validator
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_ARTICLE.get(t, f"a {t}") for t in types)
        got = _TYPE.get(type(value), "null" if value is None else "a number")
        shown = "" if isinstance(value, dict | list) or value is None else f" {_short(value)}"
        return f"'{where or 'the top level'}' must be {wanted}, not {got}{shown}"
    if kind in ("enum", "const"):
        options = expected if kind == "enum" else [expected]
        allowed = ", ".join(_short(o) for o in options)
        return f"{where} {_short(value)} is not one of {allowed}"
    if kind == "required":
        missing = next((k for k in expected if k not in value), expected[0])
        return f"{where or 'the top level'} lacks '{missing}'"
    symbols = {
        "minimum": ">=",
        "exclusiveMinimum": ">",
        "maximum": "<=",
        "exclusiveMaximum": "<",
    }
    if kind in symbols:
        return f"{where}: {_short(value)} is not {symbols[kind]} {expected}"
    if kind == "minLength":
        return f"{where}: must not be empty"
    if kind == "pattern":
        return f"{where}: {_short(value)} does not match {expected!r}"
    detail = error.message if len(error.message) <= 120 else error.message[:119] + "…"
    return f"{where or 'the top level'}: {' '.join(detail.split())}"
