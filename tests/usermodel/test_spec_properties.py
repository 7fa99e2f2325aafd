"""Property tests of SPEC parsing: any text gives a spec or one UsageError, never another
exception; every valid spec round-trips through its text. (HYPOTHESIS_PROFILE=fuzz for
many examples.)"""

import torch
from hypothesis import given
from hypothesis import strategies as st

from usermodel.errors import UsageError
from usermodel.inputs import InputSpec, parse_spec
from usermodel.memory import available_bytes

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int32": torch.int32,
    "int64": torch.int64,
}

# Near-misses of the grammar: odd names, empty and huge dimensions, spaces, bounds.
near_specs = st.from_regex(
    r"\A ?[a-z]{0,8}[0-9]{0,3} ?\[[0-9, ]{0,30}\]( ?< ?-?[0-9]{0,25})?\s?\Z", fullmatch=True
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str), st.just("9" * 5000)
)
dims = st.lists(st.one_of(numbers, st.sampled_from(["", "0", " 3 ", "1"])), max_size=5)
structured = st.builds(
    lambda name, ds, high, tail: (
        f"{name}[{','.join(ds)}]" + ("" if high is None else f"<{high}") + tail
    ),
    st.sampled_from([*DTYPES, "float", "int8", "Float32"]),
    dims,
    st.none() | numbers,
    st.sampled_from(["", "", "\n", " ", "x"]),
)
pieces = st.lists(
    st.one_of(st.sampled_from([*DTYPES, "[", "]", ",", "<", " ", "\n"]), numbers), max_size=12
).map("".join)


@given(st.one_of(st.text(max_size=60), near_specs, pieces, structured))
def test_any_text_gives_a_spec_or_a_usage_error(text):
    try:
        spec = parse_spec(text)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("input spec ")
        return
    assert isinstance(spec, InputSpec)
    assert parse_spec(str(spec)) == spec
    assert spec.nbytes <= available_bytes()  # a spec that parses can be allocated
    one = InputSpec(spec.dtype, (1,), spec.high)  # and sampled: the bound fits the dtype
    assert one.sample(torch.Generator().manual_seed(0)).shape == (1,)


@given(
    st.sampled_from(sorted(DTYPES)),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=2**31),
    st.booleans(),
)
def test_valid_specs_round_trip(name, shape, high, spaced):
    integer = name.startswith("int")
    sep = ", " if spaced else ","
    text = f"{name}[{sep.join(map(str, shape))}]" + (f"<{high}" if integer else "")
    spec = parse_spec(text)
    assert spec.dtype == DTYPES[name] and spec.shape == tuple(shape)
    assert spec.high == (high if integer else None)
    assert str(spec) == text.replace(" ", "")
    assert parse_spec(str(spec)) == spec
    assert spec.nbytes == spec.dtype.itemsize * torch.Size(shape).numel()
