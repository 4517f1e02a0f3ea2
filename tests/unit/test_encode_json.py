"""encode_json (orjson) writes the same bytes as the standard library's compact, non-ASCII
encoder, and falls back to it for what orjson does not take."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.http import _json_loads, encode_json, tweet_json
from engine.records import Mention, Tweet

pytestmark = pytest.mark.unit


def stdlib(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


TEXTS = [
    "Сәлем, #әлем! @жігіт",
    "გამარჯობა #ტვიტერი https://example.com/ფოტო",
    'quotes " and \\ backslash / slash',
    "controls \n \t \r \b \f \x01 \x1f \x7f \u0085 \u2028 \u2029 end",
    "emoji 👩🏽‍💻 🏴󠁧󠁢󠁳󠁣󠁴󠁿 and ZWJ\u200d ZWNJ\u200c",
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_tweet_answer_is_byte_for_byte_the_standard_encoders(text: str) -> None:
    tweet = Tweet(
        2**62 + 5, 7, "alice", text, 1_764_000_000_123, 3, ("әлем",), (Mention(9, "b"),), ()
    )
    payload = {"results": [tweet_json(tweet), {"error": {"code": "x", "message": text}}]}
    assert encode_json(payload) == stdlib(payload)


def test_numbers_nulls_and_int_keys_match_and_big_integers_fall_back() -> None:
    payload = {"a": [1, -2, 0, 1.5, None, True, False], 3: "three", "big": 2**70}
    assert encode_json(payload) == stdlib(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_answer_shaped_value_encodes_as_the_standard_encoder_does(value: Any) -> None:
    try:
        expected = stdlib(value)
    except UnicodeEncodeError:  # a lone surrogate: neither writes it
        with pytest.raises((UnicodeEncodeError, TypeError)):
            encode_json(value)
        return
    assert encode_json(value) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"author_id": "1234567890123456789", "text": "\\u00e9 \\ud83c\\uddec\\ud83c\\uddea"}',
        b'{"author_id": 123456789012345678901234567890}',  # orjson: a float
        b'{"author_id": -9223372036854775809}',  # orjson: a float
        b'{"author_id": 18446744073709551615, "n": -9223372036854775808}',
        b'{"text": "\\ud800"}',  # a lone surrogate: orjson refuses it
        b'{"a": NaN, "b": Infinity, "c": 1.5e400}',
        b'{"a": 1, "a": 2, "b": [1E2, -0, 0.1]}',
    ],
)
def test_a_json_body_reads_as_the_standard_library_reads_it(raw: bytes) -> None:
    got, want = _json_loads(raw), json.loads(raw.decode())
    assert repr(got) == repr(want)  # repr: 1 and 1.0, and nan, compare as written


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_value_reads_as_the_standard_library_reads_it(value: Any) -> None:
    raw = json.dumps({"v": value}).encode()
    assert repr(_json_loads(raw)) == repr(json.loads(raw))
