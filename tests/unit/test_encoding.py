"""Canonical encoding: golden bytes, the number rules, strict parsing, and round trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openproctor.core import EncodingError, canonical_encode, parse_json


def test_golden_vectors(vectors):
    for case in vectors["encoding"]:
        assert canonical_encode(case["value"]) == case["canonical_utf8"].encode("utf-8")


def test_keys_sorted_by_code_point_and_no_whitespace():
    assert canonical_encode({"b": 1, "B": 2, "a": {"é": 1, "z": 2}}) == (
        b'{"B":2,"a":{"z":2,"\xc3\xa9":1},"b":1}'
    )


def test_integral_float_encodes_as_integer():
    assert canonical_encode({"n": 3.0}) == canonical_encode({"n": 3})
    assert canonical_encode((1, 2)) == b"[1,2]"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": 0.5}, "$.x: only integers are allowed, got the float 0.5"),
        ({"x": math.nan}, "$.x: only integers are allowed, got the float nan"),
        ({"x": math.inf}, "$.x: only integers are allowed"),
        ({"x": 2**53}, "$.x: integer outside the safe range"),
        ({1: "a"}, "$: object keys must be strings, got int"),
        ({"x": {1, 2}}, "$.x: type set cannot be encoded"),
        ({"x": b"raw"}, "$.x: type bytes cannot be encoded"),
        ({"x": "\ud800"}, "$.x: string holds a lone surrogate"),
    ],
)
def test_refuses_what_is_not_canonical(value, message):
    with pytest.raises(EncodingError) as info:
        canonical_encode(value)
    assert str(info.value).startswith(message)


def test_depth_is_bounded():
    value: object = 1
    for _ in range(17):
        value = [value]
    with pytest.raises(EncodingError, match="nested deeper than 16"):
        canonical_encode(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate object key 'a'"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('{"a": Infinity}', "Infinity is not valid JSON"),
        ("{", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_parse_json_is_strict(text, message):
    with pytest.raises(EncodingError, match=message):
        parse_json(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_decode_of_encode_is_identity(value):
    encoded = canonical_encode(value)
    assert parse_json(encoded) == value
    assert canonical_encode(parse_json(encoded)) == encoded


@given(json_values)
def test_encoding_matches_a_plain_json_reference(value):
    reference = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_encode(value) == reference.encode("utf-8")
