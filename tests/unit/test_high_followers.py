"""High-follower authors at read time: held in memory within their staleness bounds."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import pytest

from engine.config import Settings
from engine.ports import Backend
from engine.records import PageQuery, Tweet
from readers.celebrities import HIGH_FOLLOWER_PAGE, RECENT_DEPTH, HighFollowers, Recent, answer
from readers.tweets import ReadyTweet, TweetJson

pytestmark = pytest.mark.unit
READER, STAR, OTHER = 1, 50, 60


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Store:
    """The reads HighFollowers makes, counted."""

    def __init__(self) -> None:
        self.stars = {STAR, OTHER}
        self.follows = {(READER, STAR)}
        self.tweets: dict[int, list[Tweet]] = {
            STAR: [Tweet(i, STAR, "star", "t", 0) for i in range(500, 400, -1)],
            OTHER: [Tweet(i, OTHER, "other", "t", 0) for i in range(399, 389, -1)],
        }
        self.reads: Counter[str] = Counter()
        self.timelines, self.graph = self, self

    async def celebrities(self) -> set[int]:
        self.reads["celebrities"] += 1
        return set(self.stars)

    async def followed_among(self, user_id: int, candidates: Sequence[int]) -> list[int]:
        self.reads["followed"] += 1
        await asyncio.sleep(0)  # a round trip: other pages run meanwhile
        return [c for c in candidates if (user_id, c) in self.follows]

    async def user_page(self, author_id: int, query: PageQuery, op: str = "page") -> list[Tweet]:
        assert op == HIGH_FOLLOWER_PAGE  # counted apart from the pages' own reads
        self.reads["user_page"] += 1
        await asyncio.sleep(0)
        upper, lower = query.bounds
        found = [t for t in self.tweets.get(author_id, []) if lower < t.id <= upper]
        return found[: query.count]


def high_followers(store: Store, clock: Any, c: float = 1.0, f: float = 60.0) -> HighFollowers:
    settings = Settings(celebrity_cache_s=c, followed_celebrities_cache_s=f)
    return HighFollowers(settings, cast(Backend, store), TweetJson(), clock)


def ids(pages: list[list[ReadyTweet]] | None) -> list[list[int]]:
    assert pages is not None
    return [[t.id for t in page] for page in pages]


def recent(tweet_ids: list[int], complete: bool) -> Recent:
    return Recent(0.0, [ReadyTweet(i, b"{}") for i in tweet_ids], complete, 0.0)


def test_held_tweets_answer_only_the_ranges_they_cover() -> None:
    held = recent([90, 80, 70, 60], complete=False)
    assert [t.id for t in answer(held, PageQuery(2)) or []] == [90, 80]
    assert [t.id for t in answer(held, PageQuery(5, max_id=85, since_id=65)) or []] == [80, 70]
    assert answer(held, PageQuery(5, max_id=75)) is None  # older ones may exist
    assert [t.id for t in answer(held, PageQuery(5, since_id=59)) or []] == [90, 80, 70, 60]
    done = recent([90, 80], complete=True)
    assert [t.id for t in answer(done, PageQuery(5)) or []] == [90, 80]


async def test_a_steady_page_reads_nothing_until_the_tweets_are_stale() -> None:
    store, clock = Store(), Clock()
    high = high_followers(store, clock)
    query = PageQuery(21)
    assert high.held(READER, query) is None
    first = await high.pages(READER, query)
    assert ids(first) == [list(range(500, 479, -1))]
    assert store.reads == {"celebrities": 1, "followed": 1, "user_page": 1}
    clock.t += 0.9
    assert ids(high.held(READER, query)) == ids(first)
    assert ids(high.held(READER, PageQuery(5, max_id=470))) == [[470, 469, 468, 467, 466]]
    assert high.held(READER, PageQuery(5, max_id=430)) is None  # deeper than what is held
    clock.t += 0.1  # C after the tweets' read was issued
    assert high.held(READER, query) is None
    await high.pages(READER, query)
    assert store.reads == {"celebrities": 2, "followed": 1, "user_page": 2}
    await high.stop()


async def test_whom_a_reader_follows_is_trusted_for_f_or_until_the_authors_change() -> None:
    store, clock = Store(), Clock()
    high = high_followers(store, clock, c=1.0, f=5.0)
    await high.pages(READER, PageQuery(3))
    store.follows.add((READER, OTHER))
    clock.t += 2
    assert len(await high.pages(READER, PageQuery(3))) == 1  # the follow is not seen yet
    clock.t += 3
    assert len(await high.pages(READER, PageQuery(3))) == 2  # F after: it is
    store.follows.discard((READER, OTHER))
    store.stars.add(70)  # a new high-follower author: the followed ones are read again
    clock.t += 1
    assert len(await high.pages(READER, PageQuery(3))) == 1
    assert store.reads["followed"] == 3
    await high.stop()


async def test_a_fresh_page_reads_everything_and_a_star_reads_its_own_tweets() -> None:
    store, clock = Store(), Clock()
    high = high_followers(store, clock)
    await high.pages(STAR, PageQuery(3))
    store.tweets[STAR].insert(0, Tweet(501, STAR, "star", "new", 0))
    assert ids(high.held(STAR, PageQuery(3)))[0][0] == 500
    assert ids(await high.pages(STAR, PageQuery(3), fresh=True))[0][0] == 501
    assert store.reads == {"celebrities": 2, "followed": 2, "user_page": 2}
    assert ids(high.held(STAR, PageQuery(3)))[0][0] == 501  # what the fresh read found is held
    await high.stop()


async def test_pages_at_once_share_the_reads_they_need_but_fresh_ones_do_not() -> None:
    store, clock = Store(), Clock()
    high = high_followers(store, clock)
    pages = await asyncio.gather(*(high.pages(READER, PageQuery(3)) for _ in range(8)))
    assert all(ids(p) == [[500, 499, 498]] for p in pages)
    assert store.reads == {"celebrities": 1, "followed": 1, "user_page": 1}
    clock.t += 1.0  # the held tweets are stale: the pages that come now read them once
    await asyncio.gather(*(high.pages(READER, PageQuery(3)) for _ in range(8)))
    assert store.reads == {"celebrities": 2, "followed": 1, "user_page": 2}
    await asyncio.gather(*(high.pages(READER, PageQuery(3), fresh=True) for _ in range(3)))
    assert store.reads == {"celebrities": 5, "followed": 4, "user_page": 5}
    await high.stop()


async def test_nothing_is_held_with_a_time_of_zero() -> None:
    store = Store()
    high = high_followers(store, Clock(), c=0.0, f=0.0)
    for _ in range(2):
        await high.pages(READER, PageQuery(3))
        assert high.held(READER, PageQuery(3)) is None
    assert store.reads == {"celebrities": 2, "followed": 2, "user_page": 2}
    assert not high.recent


async def test_held_tweets_are_refreshed_in_the_background_while_pages_use_them() -> None:
    store = Store()
    high = high_followers(store, asyncio.get_running_loop().time, c=0.2)
    await high.start()
    await high.pages(READER, PageQuery(3))
    store.tweets[STAR].insert(0, Tweet(501, STAR, "star", "new", 0))
    for _ in range(6):  # 0.6 s: three times C
        await asyncio.sleep(0.1)
        page = high.held(READER, PageQuery(3))
        assert page is not None  # never stale: refreshed every C / 2
    assert ids(page)[0][0] == 501
    assert store.reads["user_page"] >= 4
    assert len(high.recent[STAR].tweets) == RECENT_DEPTH
    await high.stop()
