"""Replaying the log leaves the projections as they were: at-least-once, exactly-once effect."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.errors import StoreUnavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.ports import LogRecord
from engine.records import Tweet
from fanout.timelines import TimelinesProjector
from fanout.worker import ConsumerWorker
from tests.support import Api, eventually, settled, table_rows


async def _read_whole_log(engine, group: str) -> list[LogRecord]:
    async def nothing() -> None:
        return None

    consumer = engine.backend.consumer(group, [GRAPH_TOPIC, TWEETS_TOPIC], nothing)
    records: list[LogRecord] = []
    async with consumer:
        empty_polls = 0
        while empty_polls < 10:
            batch = await consumer.poll(5000, 200)
            records += batch
            empty_polls = 0 if batch else empty_polls + 1
    return records


async def test_replaying_the_same_batch_twice_changes_nothing(api: Api, engine) -> None:
    author, *followers = [await api.user() for _ in range(3)]
    for f in followers:
        await api.follow(f, author)
    ids = [(await api.tweet(author, f"replayed {i}"))["id"] for i in range(5)]
    for f in followers:
        await api.wait_home(f, ids)
    before = await api.call("GET", f"/v1/users/{author['id']}", 200)
    assert before["followers_count"] == 2

    records = await _read_whole_log(engine, f"{engine.settings.consumer_group_prefix}replay")
    assert sum(r.topic == TWEETS_TOPIC for r in records) >= len(ids)
    projector = TimelinesProjector(engine.settings, engine.backend, engine.metrics)
    worker = ConsumerWorker(engine.backend, engine.metrics, "replay", projector)
    try:
        await worker.apply(records)
        await worker.apply(records)
    finally:
        await worker.close_projector()

    after = await api.call("GET", f"/v1/users/{author['id']}", 200)
    assert after["followers_count"] == before["followers_count"]
    assert after["following_count"] == before["following_count"]
    follower = await api.call("GET", f"/v1/users/{followers[0]['id']}", 200)
    assert follower["following_count"] == 1
    for f in followers:
        assert await api.home_ids(f) == sorted(ids, key=int, reverse=True)
        for tweet_id in ids:
            rows = await table_rows(
                engine,
                "SELECT COUNT(*) FROM home_timeline WHERE user_id = ? AND tweet_id = ?",
                (int(f["id"]), int(tweet_id)),
            )
            assert rows[0][0] == 1


async def test_following_twice_counts_once_and_unfollow_cleans_home(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    tweet = await api.tweet(author, "before the follow")
    await api.follow(reader, author)
    await api.follow(reader, author)
    await api.wait_home(reader, [tweet["id"]])  # backfilled on follow
    await eventually(
        lambda: api.call("GET", f"/v1/users/{author['id']}", 200),
        lambda u: u["followers_count"] == 1,
    )
    followers = await api.call("GET", f"/v1/users/{author['id']}/followers", 200)
    assert [u["id"] for u in followers["users"]] == [reader["id"]]
    await api.unfollow(reader, author)
    await api.wait_home(reader, [])
    await eventually(
        lambda: api.call("GET", f"/v1/users/{author['id']}", 200),
        lambda u: u["followers_count"] == 0,
    )


async def test_follows_whose_backfills_failed_still_bring_the_earlier_tweet_home(
    api: Api, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, reader = await api.user(), await api.user()
    tweet = await api.tweet(author, "fanned out before anyone followed")
    # fanned out to its author alone; the reader's registration is applied too, so the reader
    # reads as active and no read of theirs rebuilds their home timeline
    await settled(engine)
    timelines = engine.backend.timelines
    real, failed = timelines.put_home_rows, []

    async def times_out_twice_for_the_reader(rows: Sequence[tuple[int, Tweet, int]]) -> None:
        if len(failed) < 2 and any(owner == int(reader["id"]) for owner, _, _ in rows):
            failed.append(rows)  # one follow's backfill twice, or each follow's once
            raise StoreUnavailable("the home write timed out")
        await real(rows)

    monkeypatch.setattr(timelines, "put_home_rows", times_out_twice_for_the_reader)
    await api.follow(reader, author)
    await api.follow(reader, author)
    await api.wait_home(reader, [tweet["id"]])  # the batches applied again backfilled it
    assert len(failed) == 2
