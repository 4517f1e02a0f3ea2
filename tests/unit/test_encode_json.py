"""encode_json (orjson) writes the same bytes as the standard library's compact, non-ASCII
encoder, and falls back to it for what orjson does not take."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.http import encode_json, pack_payload, tweet_bytes, tweet_fragment, tweet_json
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


tweets = st.builds(
    Tweet,
    id=st.integers(0, 2**63 - 1),
    author_id=st.integers(0, 2**63 - 1),
    author_handle=st.text(max_size=15),
    text=st.text(max_size=140),
    created_ms=st.integers(0, 2**41),
    in_reply_to_id=st.none() | st.integers(0, 2**63 - 1),
    hashtags=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    mentions=st.lists(
        st.builds(Mention, st.integers(0, 2**63 - 1), st.text(max_size=15)), max_size=3
    ).map(tuple),
    urls=st.lists(st.text(max_size=20), max_size=2).map(tuple),
)


@given(tweets)
def test_a_tweet_written_from_its_template_is_the_tweets_json(tweet: Tweet) -> None:
    """tweet_bytes (a template) gives the bytes of encode_json(tweet_json(...)), lone
    surrogates included (both refuse them: the general way answers)."""
    try:
        expected = encode_json(tweet_json(tweet))
    except (UnicodeEncodeError, TypeError):
        with pytest.raises((UnicodeEncodeError, TypeError)):
            tweet_bytes(tweet)
        return
    assert tweet_bytes(tweet) == expected


@pytest.mark.parametrize("text", TEXTS)
def test_an_answer_of_encoded_tweets_reads_as_the_answer_of_their_json(text: str) -> None:
    """Fragments (tweets already encoded) give the same JSON, msgpack and fallback answer
    (an integer beyond 64 bits sends encode_json to the standard encoder) as the dicts."""
    tweet = Tweet(2**62 + 5, 7, "alice", text, 1_764_000_000_123, None, (), (), ("http://a.b",))
    as_dicts: dict[str, Any] = {"results": [tweet_json(tweet)], "n": 1}
    as_fragments: dict[str, Any] = {"results": [tweet_fragment(tweet)], "n": 1}
    assert encode_json(as_fragments) == encode_json(as_dicts)
    assert pack_payload(as_fragments) == pack_payload(as_dicts)
    assert msgpack.unpackb(pack_payload(as_fragments)) == as_dicts
    as_dicts["n"] = as_fragments["n"] = 2**70
    assert encode_json(as_fragments) == encode_json(as_dicts) == stdlib(as_dicts)
