"""Pages joined from tweets encoded once are the answers encoding the whole page would give."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
from aiohttp.test_utils import make_mocked_request

from engine.config import Settings
from engine.events import pack_tweet
from engine.http import MSGPACK, page_json, respond, tweet_bytes, tweet_json
from engine.metrics import Metrics
from engine.ports import Backend, HomeRow, TimelineStore
from engine.records import Mention, PageQuery, Tweet
from readers.routing import ready_chunk, sse, tweet_chunk
from readers.service import READ_PAST, ReadersRoutes
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
    held_c = cache.ready_all([b, c])[1]
    assert len(cache) == 2
    assert cache.ready(c) is held_c and cache.ready(a) is not first  # a was let go


def test_a_stream_chunk_from_the_encoded_tweet_is_the_sse_event() -> None:
    tweet = tweets(1)[0]
    assert tweet_chunk(tweet) == sse("tweet", tweet_json(tweet), tweet.id)
    assert ready_chunk(ReadyTweet(tweet.id, TweetJson().ready(tweet).json)) == tweet_chunk(tweet)


class Store:
    """A home timeline of rows and a tweet store, its get_tweets calls recorded."""

    def __init__(self, rows: list[HomeRow], tweets: list[Tweet]) -> None:
        self.rows = rows
        self.tweets = {t.id: t for t in tweets}
        self.asked: list[list[int]] = []
        self.timelines = self

    async def home_rows(self, owner_id: int, query: PageQuery) -> list[HomeRow]:
        upper, lower = query.bounds
        return [r for r in self.rows if lower < r.tweet_id <= upper][: query.count]

    async def get_tweets(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        self.asked.append(list(tweet_ids))
        return {i: self.tweets[i] for i in tweet_ids if i in self.tweets}


def row(t: Tweet, with_body: bool = False) -> HomeRow:
    return HomeRow(t.id, t.author_id, pack_tweet(t) if with_body else None)


async def test_hydration_reads_only_what_is_neither_held_nor_carried_in_one_request() -> None:
    held, carried, stored, gone = tweets(4)
    cache = TweetJson()
    cache.ready(held)
    store = Store([], [held, stored])  # `carried` is only in its row; `gone` is deleted
    rows = [row(held), row(carried, with_body=True), row(stored), row(gone)]
    ready = await cache.hydrate(rows, cast(TimelineStore, store))
    assert [r.id for r in ready] == [held.id, carried.id, stored.id]
    assert [r.json for r in ready] == [tweet_bytes(t) for t in (held, carried, stored)]
    assert store.asked == [[stored.id, gone.id]]
    await cache.hydrate(rows[:3], cast(TimelineStore, store))
    assert len(store.asked) == 1  # all three held now: no request


async def test_a_home_page_reads_past_rows_whose_tweet_is_gone() -> None:
    found = tweets(6)
    store = Store([row(t) for t in found], [t for t in found if t.id % 2])
    readers = ReadersRoutes(Settings(), cast(Backend, store), Metrics())
    page = await readers._own(1, PageQuery(3))
    assert [t.id for t in page] == [t.id for t in found if t.id % 2][:3]
    ids = [t.id for t in found]  # each read past gone rows asks for as many as still wanted
    past = READ_PAST  # ... and READ_PAST more
    assert store.asked == [ids[0 : 3 + past], ids[3 + past : 3 + past + 1 + past]]


async def test_a_page_with_a_few_gone_rows_is_still_one_read() -> None:
    found = tweets(40)
    gone = {found[1].id, found[4].id}  # deleted, their home rows not removed yet
    store = Store([row(t) for t in found], [t for t in found if t.id not in gone])
    readers = ReadersRoutes(Settings(), cast(Backend, store), Metrics())
    page = await readers._own(1, PageQuery(21))
    assert [t.id for t in page] == [t.id for t in found if t.id not in gone][:21]
    assert len(store.asked) == 1
