"""The timelines projection under a consumer whose store fails in the middle of a batch: the
batch applied again leaves the views one clean application would have."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from engine.config import Settings
from engine.errors import StoreUnavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC, Event, Followed, TweetPosted, encode
from engine.metrics import Metrics
from engine.ports import Backend, LogRecord
from engine.records import PageQuery, Tweet
from fanout.timelines import TimelinesProjector
from fanout.worker import ConsumerWorker

pytestmark = pytest.mark.unit
AUTHOR, READER = 401, 402


def now_us() -> int:
    return time.time_ns() // 1000


def record(topic: str, offset: int, event: Event) -> LogRecord:
    return LogRecord(topic, 0, offset, encode(event))


@pytest_asyncio.fixture
async def worker(embedded: Backend) -> AsyncIterator[ConsumerWorker]:
    settings = Settings(celebrity_cache_s=0.0)
    projector = TimelinesProjector(settings, embedded, Metrics())
    consumer = ConsumerWorker(embedded, Metrics(), "timelines-test", projector)
    try:
        yield consumer
    finally:
        await consumer.close_projector()


def fails_once(real: Callable[..., object]) -> Callable[..., object]:
    """`real`, except that its first call raises StoreUnavailable (a write that timed out)."""
    calls = 0

    async def flaky(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreUnavailable("the store timed out")
        return await real(*args)  # type: ignore[misc]

    return flaky


async def test_a_tweet_posted_before_two_follows_reaches_home_through_a_failed_batch(
    embedded: Backend, worker: ConsumerWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweet = Tweet(11, AUTHOR, "author", "before the follow", 0)
    ts = now_us()
    # the tweet is applied while nobody follows its author: its audience is the author alone
    await worker.apply_until_done([record(TWEETS_TOPIC, 0, TweetPosted(11, ts, tweet))])
    follows = [
        record(GRAPH_TOPIC, 0, Followed(21, ts + 10, READER, AUTHOR)),
        record(GRAPH_TOPIC, 1, Followed(22, ts + 20, READER, AUTHOR)),  # following twice
    ]
    # the backfill's home rows time out once, after the edge was written
    monkeypatch.setattr(
        embedded.timelines, "put_home_rows", fails_once(embedded.timelines.put_home_rows)
    )
    await worker.apply_until_done(follows)  # the batch is applied again
    assert [t.id for t in await embedded.timelines.home_page(READER, PageQuery())] == [11]


async def test_counts_whose_write_failed_are_written_when_the_batch_is_applied_again(
    embedded: Backend, worker: ConsumerWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded.graph, "put_count_rows", fails_once(embedded.graph.put_count_rows))
    await worker.apply_until_done([record(GRAPH_TOPIC, 0, Followed(21, now_us(), READER, AUTHOR))])
    assert await embedded.graph.follower_count(AUTHOR) == 1
    rows = await embedded.graph.count_rows([(READER, 0)])
    assert rows[(READER, 0)].following == 1
