"""Case-id filters in pytest's ``-k`` syntax, e.g. ``"lstm and not training"``.

pytest has no public API for its ``-k`` engine, so this module is the one place in the
suite that imports pytest's private ``_pytest.mark.expression``. What it relies on:
``Expression.compile(text)`` (a malformed text raises one of :data:`PARSE_ERRORS`) and
``compiled.evaluate(matcher)``, which calls ``matcher(word)`` for each word of the text.
``tests/bench/test_kexpr.py`` fails, saying what changed, if pytest changes either.
"""

from __future__ import annotations

from collections.abc import Callable

from _pytest.mark import expression as _engine

PARSE_ERRORS: tuple[type[Exception], ...] = tuple(
    dict.fromkeys((SyntaxError, getattr(_engine, "ParseError", SyntaxError)))
)  # older pytest raised its own ParseError
"""What ``Expression.compile`` raises for a malformed expression."""


def id_filter(expression: str) -> Callable[[str], bool]:
    """Does an id match ``expression``, as ``pytest -k`` matches test names?

    A word matches when it is a case-insensitive substring of the id; words combine with
    ``and``, ``or``, ``not`` and parentheses. ValueError (pytest's message) when the
    expression is malformed.
    """
    try:
        compiled = _engine.Expression.compile(expression)
    except PARSE_ERRORS as exc:
        raise ValueError(str(exc)) from None
    return lambda case_id: compiled.evaluate(_substring_matcher(case_id))


def _substring_matcher(case_id: str) -> Callable[..., bool]:
    """pytest's -k matching: a word matches if it is a substring of the id (any case).

    Keyword arguments (pytest's ``-m`` passes marker arguments) are ignored.
    """
    lowered = case_id.lower()
    return lambda word, /, **_: word.lower() in lowered
