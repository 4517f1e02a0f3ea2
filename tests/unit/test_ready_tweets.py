"""Pages joined from tweets encoded once are the answers encoding the whole page would give."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from engine.http import MSGPACK, page_json, respond, tweet_json
from engine.records import Mention, Tweet
from readers.routing import ready_chunk, sse, tweet_chunk
from readers.tweets import ReadyTweet, TweetJson, tweets_answer

pytestmark = pytest.mark.unit


def tweets(n: int) -> list[Tweet]:
    return [
        Tweet(
            100 - i,
            7,
            "ann",
            f'ტვიტი "{i}" \\ ok',
            1_700_000_000_000 + i,
            in_reply_to_id=5 if i % 2 else None,
            hashtags=("Твиттер",),
            mentions=(Mention(8, "bob"),),
            urls=("https://example.com/a?b=1",),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [0, 3, 4])
@pytest.mark.parametrize("accept", ["application/json", MSGPACK])
def test_a_joined_page_is_the_encoded_page(n: int, accept: str) -> None:
    found, count = tweets(n), 3
    request = make_mocked_request("GET", "/", headers={"Accept": accept})
    last = found[count - 1].id if len(found) > count else None
    expected = respond(request, page_json([tweet_json(t) for t in found], count, "tweets", last))
    joined = tweets_answer(request, TweetJson().ready_all(found), count)
    assert joined.body == expected.body
    assert joined.content_type == expected.content_type


def test_a_tweet_is_encoded_once_and_held_up_to_the_bound() -> None:
    cache = TweetJson(size=2)
    a, b, c = tweets(3)
    first = cache.ready(a)
    assert cache.ready(a) is first  # held: not encoded again
    cache.ready_all([b, c])
    assert len(cache) == 2
    assert cache.cached(a.id) is None and cache.cached(c.id) is not None


def test_a_stream_chunk_from_the_encoded_tweet_is_the_sse_event() -> None:
    tweet = tweets(1)[0]
    assert tweet_chunk(tweet) == sse("tweet", tweet_json(tweet), tweet.id)
    assert ready_chunk(ReadyTweet(tweet.id, TweetJson().ready(tweet).json)) == tweet_chunk(tweet)
