"""Records a consumer cannot read: bad bytes are set aside and consumption goes on; an event
newer than this version stops its partition until an upgrade; dead letters come back into the
group that failed them with `timeline dead-letters replay`."""

from __future__ import annotations

import dataclasses
import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
import pytest_asyncio

from deploy.local.cleanup import drop_run
from engine import events
from engine.config import Settings
from engine.events import TWEETS_TOPIC, TweetDeleted, encode
from engine.groups import group_name
from engine.ports import LogRecord
from engine.records import Tweet
from fanout.worker import ConsumerWorker
from tests.integration.conftest import api_of, running_engine
from tests.support import Api, append_raw, eventually, settled
from timeline.app import Engine
from timeline.dead_letters import LetterState, list_letters, replay

GARBAGE = b"\xc1not msgpack"


def newer_delete(tweet: Tweet) -> bytes:
    """A tweet_deleted of schema version 2, which this version does not know."""
    now_us = time.time_ns() // 1000
    envelope = msgpack.unpackb(encode(TweetDeleted(tweet.id + 1, now_us, tweet)))
    return bytes(msgpack.packb({**envelope, "sv": 2}))


def upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as the next version would: one that reads tweet_deleted v2."""
    monkeypatch.setitem(events._TYPES, ("tweet_deleted", 2), TweetDeleted)


def own_settings(settings: Settings, tmp_path_factory: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    return dataclasses.replace(
        settings,
        data_dir=str(tmp_path_factory.mktemp(f"poison-{run}")),
        cassandra_keyspace=f"pz_{run}",
        kafka_topic_prefix=f"pz-{run}.",
        consumer_group_prefix=f"pz-{run}-",
    )


def worker_of(engine: Engine, projection: str) -> ConsumerWorker:
    group = group_name(engine.settings, projection)
    return next(w for w in engine.workers if w.group == group)


def metric(engine: Engine, name: str, **labels: str) -> float:
    return engine.metrics.registry.get_sample_value(name, labels) or 0.0


async def readyz(api: Api) -> tuple[int, dict[str, bool]]:
    resp = await api.client.get("/readyz")
    return resp.status, (await resp.json())["checks"]


async def test_undecodable_bytes_are_set_aside_and_consumption_goes_on(api: Api, engine) -> None:
    fanout = group_name(engine.settings, "timelines")
    before = metric(engine, "timeline_poison_events_total", group=fanout)
    await append_raw(engine, TWEETS_TOPIC, GARBAGE)
    author, reader = await api.user(), await api.user()
    await api.follow(reader, author)
    tweet = await api.tweet(author, "after the poison")
    await api.wait_home(reader, [tweet["id"]])

    async def letters() -> list[LetterState]:
        states = await list_letters(engine.settings, io.StringIO(), engine.backend)
        return [s for s in states if s.letter.group == fanout and s.letter.value == GARBAGE]

    [letter] = await eventually(letters, bool, every_s=0.5)
    assert letter.letter.reason.startswith("undecodable event")
    assert letter.letter.at_us is not None
    listing = io.StringIO()
    await list_letters(engine.settings, listing)  # as the command runs: a backend of its own
    assert re.search(rf"^pending +{re.escape(fanout)} +tweets ", listing.getvalue(), re.M)
    assert metric(engine, "timeline_poison_events_total", group=fanout) - before == 1
    assert (await readyz(api))[0] == 200


@pytest_asyncio.fixture
async def own(settings: Settings, tmp_path_factory: Any) -> AsyncIterator[Settings]:
    """Settings of an engine of the test's own (its log and store dropped afterwards)."""
    mine = own_settings(settings, tmp_path_factory)
    try:
        yield mine
    finally:
        if mine.backend == "kafka-cassandra":
            await drop_run(mine)


async def test_a_newer_event_stops_its_partition_until_an_upgrade_reads_it(
    own: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Engine(own)
    await first.start()
    try:
        async with api_of(first) as api:
            author, reader = await api.user(), await api.user()
            await api.follow(reader, author)
            kept = await api.tweet(author, "deleted by a newer version")
            await api.wait_home(reader, [kept["id"]])
            tweet = await first.backend.timelines.get_tweet(int(kept["id"]))
            assert tweet is not None
            await append_raw(first, TWEETS_TOPIC, newer_delete(tweet), key=tweet.author_id)
            fanout = worker_of(first, "timelines")

            async def blocked() -> dict[tuple[str, int], int]:
                return dict(fanout.blocked)

            [((topic, partition), offset)] = (await eventually(blocked, bool)).items()
            later = await api.tweet(author, "after the newer event")
            await settled(first)

            assert await api.home_ids(reader) == [kept["id"]]  # neither applied nor skipped
            tail = first.backend.tail([TWEETS_TOPIC])
            async with tail:
                assert (await tail.committed(fanout.group))[(topic, partition)] == offset
            labels = {"group": fanout.group, "topic": topic, "partition": str(partition)}
            assert metric(first, "timeline_consumer_blocked", **labels) == 1
            assert metric(first, "timeline_poison_events_total", group=fanout.group) == 0
            status, checks = await readyz(api)
            assert (status, checks["consumers_unblocked"]) == (503, False)
    finally:
        await first.stop()

    upgrade(monkeypatch)
    second = Engine(own)
    await second.start()
    try:
        async with api_of(second) as api:
            await api.wait_home(reader, [later["id"]], timeout_s=45)
            assert await second.backend.timelines.get_tweet(tweet.id) is None
            assert (await readyz(api))[0] == 200
    finally:
        await second.stop()


def state_of(states: list[LetterState], group: str, value: bytes) -> LetterState:
    [found] = [s for s in states if s.letter.group == group and s.letter.value == value]
    return found


async def test_dead_letters_are_listed_and_replayed_into_their_group_once(
    own: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_engine(own) as engine, api_of(engine) as api:
        fanout, index = group_name(own, "timelines"), group_name(own, "index")
        author, reader = await api.user(), await api.user()
        await api.follow(reader, author)
        kept = await api.tweet(author, "deleted once the letter is replayed")
        await api.wait_home(reader, [kept["id"]])
        tweet = await engine.backend.timelines.get_tweet(int(kept["id"]))
        assert tweet is not None
        # what an older version did with an event it could not read: set it aside and go on
        newer = newer_delete(tweet)
        skipped = LogRecord(TWEETS_TOPIC, 1, 12345, newer)
        await engine.backend.log.dead_letter(skipped, fanout, "unknown event 'tweet_deleted' v2")
        await append_raw(engine, TWEETS_TOPIC, GARBAGE)  # set aside by every group of tweets

        async def letters() -> list[LetterState]:
            return await list_letters(own, io.StringIO(), engine.backend)

        def complete(states: list[LetterState]) -> bool:
            groups = {s.letter.group for s in states if s.letter.value == GARBAGE}
            return {fanout, index} <= groups and any(s.letter.value == newer for s in states)

        states = await eventually(letters, complete, every_s=0.5)
        assert not state_of(states, fanout, newer).replayed
        assert (state_of(states, fanout, newer).letter.partition, 12345) == (1, 12345)
        listing = io.StringIO()
        await list_letters(own, listing, engine.backend)
        assert "pending" in listing.getvalue() and "tweet_deleted' v2" in listing.getvalue()

        # before the upgrade the letter is still unreadable: it is set aside again, not lost
        [before] = await replay(own, fanout, io.StringIO(), engine.backend)
        assert (before.applied, before.unreadable) == (0, 2)
        assert not state_of(await letters(), fanout, newer).replayed
        assert await api.home_ids(reader) == [kept["id"]]

        upgrade(monkeypatch)
        progress = io.StringIO()
        [after] = await replay(own, fanout, progress, engine.backend)
        assert (after.group, after.applied, after.unreadable) == (fanout, 1, 1)
        assert "replayed 1 dead-lettered records" in progress.getvalue()
        assert "letter" in progress.getvalue()  # the progress bar's unit
        await api.wait_home(reader, [])
        states = await letters()
        assert state_of(states, fanout, newer).replayed
        assert state_of(states, fanout, newer).letters == 2
        assert not state_of(states, fanout, GARBAGE).replayed
        assert not state_of(states, index, GARBAGE).replayed  # another group's letters wait

        everyone = await replay(own, None, io.StringIO(), engine.backend)
        assert {r.group for r in everyone} >= {fanout, index}
        assert sum(r.applied for r in everyone) == 0  # nothing is brought back twice
