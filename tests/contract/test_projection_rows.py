"""Projections keep a bounded number of rows in memory, and letting one go loses nothing:
the row is read again from the store, offset included, so a replay still counts once."""

from __future__ import annotations

import dataclasses
import random
import time

import msgspec

from engine.config import Settings
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC, Followed, TweetPosted
from engine.ids import make_id
from engine.ports import Backend, LogRecord
from fanout.graph import GraphApplier
from fanout.trends import MINUTE_MS, TrendProjector
from tests.contract.helpers import followed, new_id, new_ids, now_us, tweet

HELD = 2


def record(topic: str, offset: int) -> LogRecord:
    return LogRecord(topic, 0, offset, b"")


def tagged_in_minute(minute: int, tag: str) -> TweetPosted:
    tweet_id = make_id(minute * MINUTE_MS + 1, random.randrange(1024), random.randrange(4096))
    t = msgspec.structs.replace(tweet(new_id(), tweet_id), hashtags=(tag,))
    return TweetPosted(new_id(), now_us(), t)


async def test_trend_rows_held_stay_bounded_and_a_replay_counts_once(backend: Backend) -> None:
    projector = TrendProjector(backend, HELD)
    first = time.time_ns() // 60_000_000_000 - random.randrange(100, 1400)
    minutes = [first - i for i in range(5)]
    tag = f"rows{random.randrange(10**9)}"
    batch = [
        (record(TWEETS_TOPIC, offset), tagged_in_minute(m, tag)) for offset, m in enumerate(minutes)
    ]
    await projector.apply(batch)
    assert len(projector.held) <= HELD
    await projector.apply(batch)  # a replay after the rows were let go
    assert (await backend.trends.window(minutes))[tag] == len(minutes)


async def test_count_rows_held_stay_bounded_and_a_replay_counts_once(
    backend: Backend, settings: Settings
) -> None:
    projector = GraphApplier(dataclasses.replace(settings, projection_cache_rows=HELD), backend)
    follower, *followees = new_ids(5)
    items: list[tuple[LogRecord, Followed]] = [
        (record(GRAPH_TOPIC, offset), followed(follower, followee))
        for offset, followee in enumerate(followees)
    ]
    await projector.apply_follows(items)
    assert len(projector.held) <= HELD
    await projector.apply_follows(items)
    rows = await backend.graph.count_rows([(u, 0) for u in (follower, *followees)])
    assert rows[(follower, 0)].following == len(followees)
    assert all(rows[(u, 0)].followers == 1 for u in followees)
