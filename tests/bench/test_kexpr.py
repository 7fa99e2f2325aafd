"""bench.kexpr wraps pytest's private -k engine: these fail, saying what changed, if pytest
changes the part of it that ``--filter`` relies on."""

import importlib

import pytest

IDS = (
    "lstm-inference-numpy-b8-t50-i32-h64-l1-uni-padded-f1",
    "lstm-training-torch-b1-t50-i32-h64-l2-bi-packed-f0.5",
    "gru-training-numpy-b8-t50-i32-h64-l1-uni-padded-f1",
)


def _changed(what: str) -> None:
    pytest.fail(
        f"pytest {pytest.__version__} changed _pytest.mark.expression, the private -k engine "
        f"that bench/kexpr.py wraps for `python -m bench --filter`: {what}",
        pytrace=False,
    )


def _engine():
    try:
        return importlib.import_module("_pytest.mark.expression")
    except ImportError as exc:
        _changed(f"the module cannot be imported ({exc})")


def test_expression_compiles_and_evaluates_with_a_matcher_called_per_word():
    expression = getattr(_engine(), "Expression", None)
    if not callable(getattr(expression, "compile", None)):
        _changed("there is no Expression.compile(text)")
    compiled = expression.compile("lstm and not (training or gru)")
    if not callable(getattr(compiled, "evaluate", None)):
        _changed("a compiled Expression has no evaluate(matcher)")
    words = []

    def matcher(word, /, **kwargs):
        words.append(word)
        return word == "lstm"

    try:
        result = compiled.evaluate(matcher)
    except Exception as exc:  # any failure here is the news
        _changed(f"evaluate(matcher) raised {type(exc).__name__}: {exc}")
    if result is not True or words != ["lstm", "training", "gru"]:
        _changed(f"evaluate gave {result!r} after asking the matcher for {words}")


@pytest.mark.parametrize("text", ["lstm and (", "lstm gru", "not"])
def test_a_malformed_expression_raises_what_kexpr_catches(text):
    from bench.kexpr import PARSE_ERRORS

    try:
        _engine().Expression.compile(text)
    except PARSE_ERRORS:
        return
    except Exception as exc:  # any other type is the news
        _changed(f"compiling {text!r} raised {type(exc).__name__}, not one of {PARSE_ERRORS}")
    _changed(f"the malformed expression {text!r} compiled")


def test_id_filter_matches_words_as_case_insensitive_substrings_of_the_id():
    from bench.kexpr import id_filter

    def chosen(expression):
        keep = id_filter(expression)
        return [i for i, case_id in enumerate(IDS) if keep(case_id)]

    assert chosen("LSTM") == [0, 1]
    assert chosen("lstm and not training") == [0]
    assert chosen("(gru or packed) and training") == [1, 2]
    assert chosen("b8- and uni") == [0, 2]
    assert chosen("rnn_relu") == []


def test_id_filter_refuses_a_malformed_expression_with_pytests_message():
    from bench.kexpr import id_filter

    with pytest.raises(ValueError, match="right parenthesis"):
        id_filter("lstm and (gru")
