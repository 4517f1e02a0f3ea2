"""The EventLog and LogConsumer ports: partitions, offsets, durability, groups and lag."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict

import msgpack
import pytest

from engine.adapters import open_backend
from engine.adapters.embedded.log import partition_for
from engine.adapters.kafka.log import PACK_MAX_EVENTS
from engine.config import Settings
from engine.dead_letters import parse_letter
from engine.errors import LogUnavailable
from engine.events import DEAD_LETTER_TOPIC, GRAPH_TOPIC, TWEETS_TOPIC, Event, decode
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogPosition, LogRecord
from fanout.worker import next_positions
from ingest.together import TurnAppends
from tests.contract.conftest import PARTITIONS, Reopen
from tests.contract.helpers import drain, drain_events, followed, new_ids, noop, posted

TOPICS = [GRAPH_TOPIC, TWEETS_TOPIC]


def member(backend: Backend, group: str | None = None) -> LogConsumer:
    return backend.consumer(group or f"g-{uuid.uuid4().hex[:8]}", TOPICS, noop)


def mixed_events(authors: list[int], per_author: int) -> list[Event]:
    events: list[Event] = []
    for _ in range(per_author):
        events += [posted(a) for a in authors]
        events.append(followed(authors[0], authors[-1]))
    return events


def by_partition(records: list[LogRecord]) -> dict[tuple[str, int], list[int]]:
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r in records:
        offsets[(r.topic, r.partition)].append(r.offset)
    return offsets


async def test_log_and_store_answer_pings_while_started(backend: Backend) -> None:
    assert await backend.log.ping()
    assert await backend.ping_store()


async def test_a_stopped_log_refuses_appends_and_stops_twice(backend: Backend) -> None:
    await backend.log.stop()
    await backend.log.stop()
    assert not await backend.log.ping()
    with pytest.raises(LogUnavailable):
        await backend.log.append(posted(1))


async def test_ensure_topics_twice_is_harmless(backend: Backend) -> None:
    await backend.log.ensure_topics()
    await backend.log.ensure_topics()
    await backend.log.append(posted(1))


async def test_events_go_to_their_keys_partition_with_dense_offsets(backend: Backend) -> None:
    events = mixed_events(new_ids(8), per_author=3)
    for event in events:  # one at a time: offsets follow append order
        await backend.log.append(event)
    async with member(backend) as consumer:
        records = await drain(consumer, len(events))
    assert len(records) == len(events)
    for r in records:
        event = decode(r.value)
        assert (r.topic, r.partition) == (event.topic, partition_for(event.key, PARTITIONS))
    for offsets in by_partition(records).values():
        assert offsets == list(range(len(offsets)))
    assert sorted(decode(r.value).event_id for r in records) == sorted(e.event_id for e in events)


async def test_one_keys_events_are_read_in_append_order(backend: Backend) -> None:
    author = new_ids(1)[0]
    events = [posted(author) for _ in range(20)]
    positions = await backend.log.append_many(events)
    assert all(isinstance(p, LogPosition) for p in positions)
    async with member(backend) as consumer:
        read = await drain_events(consumer, len(events))
    assert [e.event_id for _, e in read] == [e.event_id for e in events]


async def test_posts_appended_together_are_read_once_each_where_the_append_said(
    backend: Backend, kind: str
) -> None:
    """Kafka carries posts appended together in packs (a record for up to PACK_MAX_EVENTS
    of one partition); each post is read once, in its author's order, at the position its
    append answered."""
    authors = new_ids(10)
    events = [posted(authors[i % len(authors)]) for i in range(PACK_MAX_EVENTS * 2 + 50)]
    positions = await backend.log.append_many(events)
    async with member(backend) as consumer:
        read = await drain_events(consumer, len(events))
    assert sorted(e.event_id for _, e in read) == sorted(e.event_id for e in events)
    where = {e.event_id: LogPosition(r.topic, r.partition, r.offset) for r, e in read}
    assert [where[e.event_id] for e in events] == positions
    for author in authors:
        assert [e.event_id for _, e in read if e.key == author] == [
            e.event_id for e in events if e.key == author
        ]
    records = {(r.topic, r.partition, r.offset) for r, _ in read}
    if kind != "embedded":
        assert len(records) < len(events) / 10  # packs of many posts, not a record each
    for r, e in read:
        assert (r.topic, r.partition) == (e.topic, partition_for(e.key, PARTITIONS))


async def test_single_posts_of_one_turn_go_together_and_are_read_where_answered(
    backend: Backend, kind: str
) -> None:
    """Posts appended one by one within one turn of the event loop (ingest/together.py) go
    to the log in one append: on Kafka a record per partition; each post is read once, at
    the position its own append answered."""
    authors = new_ids(8)
    events = [posted(authors[i % len(authors)]) for i in range(60)]
    appends = TurnAppends(backend.log)
    positions = await asyncio.gather(*(appends.append(e) for e in events))
    async with member(backend) as consumer:
        read = await drain_events(consumer, len(events))
    assert sorted(e.event_id for _, e in read) == sorted(e.event_id for e in events)
    where = {e.event_id: LogPosition(r.topic, r.partition, r.offset) for r, e in read}
    assert [where[e.event_id] for e in events] == positions
    if kind != "embedded":
        assert len({(r.topic, r.partition, r.offset) for r, _ in read}) <= PARTITIONS


async def test_append_many_answers_where_each_event_lies(backend: Backend) -> None:
    events = mixed_events(new_ids(12), per_author=10)  # both topics, every partition
    positions = await backend.log.append_many(events)
    async with member(backend) as consumer:
        records = await drain(consumer, len(events))
    at = {(r.topic, r.partition, r.offset): decode(r.value).event_id for r in records}
    assert all(isinstance(p, LogPosition) for p in positions)
    answered = [
        at[(p.topic, p.partition, p.offset)] for p in positions if isinstance(p, LogPosition)
    ]
    assert answered == [e.event_id for e in events]


async def test_poll_honours_max_records_and_partition_order(backend: Backend) -> None:
    events = mixed_events(new_ids(6), per_author=5)
    await backend.log.append_many(events)
    seen: list[LogRecord] = []
    async with member(backend) as consumer:
        deadline = time.monotonic() + 20
        while len(seen) < len(events) and time.monotonic() < deadline:
            batch = await consumer.poll(max_records=4, timeout_ms=200)
            assert len(batch) <= 4
            seen += batch
    assert len(seen) == len(events)
    for offsets in by_partition(seen).values():
        assert offsets == list(range(len(offsets)))


async def test_a_new_group_starts_at_the_earliest_record(backend: Backend) -> None:
    events = mixed_events(new_ids(3), per_author=2)
    await backend.log.append_many(events)
    for _ in range(2):
        async with member(backend) as consumer:
            assert len(await drain(consumer, len(events))) == len(events)


async def test_a_new_member_resumes_from_the_groups_commit(backend: Backend) -> None:
    events = mixed_events(new_ids(4), per_author=4)
    await backend.log.append_many(events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with member(backend, group) as first:
        records = await drain(first, len(events))
        done = records[: len(records) // 2]
        await first.commit(next_positions(done))
    async with member(backend, group) as second:
        rest = await drain(second, len(events) - len(done))
        assert await second.poll(max_records=500, timeout_ms=300) == []
    assert sorted(map(key, rest)) == sorted(map(key, records[len(done) :]))


def key(r: LogRecord) -> tuple[str, int, int]:
    return (r.topic, r.partition, r.offset)


async def test_commits_survive_a_restart(backend: Backend, reopen: Reopen) -> None:
    events = mixed_events(new_ids(3), per_author=3)
    await backend.log.append_many(events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with member(backend, group) as consumer:
        await consumer.commit(next_positions(await drain(consumer, len(events))))
    await backend.stop()
    again = await reopen()
    late = posted(new_ids(1)[0])
    await again.log.append(late)
    async with member(again, group) as consumer:
        records = await drain(consumer, 1)
        assert await consumer.poll(max_records=500, timeout_ms=300) == []
    assert [decode(r.value).event_id for r in records] == [late.event_id]


async def test_poll_waits_for_its_timeout_when_nothing_comes(backend: Backend) -> None:
    await backend.log.append(posted(1))
    async with member(backend) as consumer:
        assert len(await drain(consumer, 1)) == 1
        started = time.monotonic()
        assert await consumer.poll(max_records=10, timeout_ms=400) == []
        assert time.monotonic() - started >= 0.3


async def test_poll_wakes_up_when_an_event_is_appended(backend: Backend) -> None:
    await backend.log.append(posted(1))
    async with member(backend) as consumer:
        assert len(await drain(consumer, 1)) == 1
        waiting = asyncio.create_task(consumer.poll(max_records=10, timeout_ms=10_000))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        event = posted(2)
        await backend.log.append(event)
        records = await waiting
        assert time.monotonic() - started < 5
    assert [decode(r.value).event_id for r in records] == [event.event_id]


async def test_lag_is_the_end_offset_minus_the_commit(backend: Backend) -> None:
    events = mixed_events(new_ids(5), per_author=3)
    await backend.log.append_many(events)
    expected = Counter((e.topic, partition_for(e.key, PARTITIONS)) for e in events)
    async with member(backend) as consumer:
        records = await drain(consumer, len(events))
        before = await consumer.lag()
        await consumer.commit(next_positions(records))
        after = await consumer.lag()
    assert {tp: n for tp, n in before.items() if n} == dict(expected)
    assert set(expected) <= set(after)
    assert all(n == 0 for n in after.values())


async def test_end_offsets_cover_every_partition_of_the_topics(backend: Backend) -> None:
    events = mixed_events(new_ids(5), per_author=2)
    await backend.log.append_many(events)
    expected = Counter((e.topic, partition_for(e.key, PARTITIONS)) for e in events)
    async with member(backend) as consumer:
        await drain(consumer, len(events))
        ends = await consumer.end_offsets()
    assert set(ends) == {(t, p) for t in TOPICS for p in range(PARTITIONS)}
    assert {tp: n for tp, n in ends.items() if n} == dict(expected)


async def test_a_dead_letter_keeps_the_record_where_it_came_from_and_why(
    backend: Backend,
) -> None:
    poison = LogRecord(TWEETS_TOPIC, 2, 41, b"\xc1not msgpack")
    before_us = time.time_ns() // 1000
    await backend.log.dead_letter(poison, "fanout", "undecodable event: ...")
    async with backend.consumer(f"g-{uuid.uuid4().hex[:8]}", [DEAD_LETTER_TOPIC], noop) as c:
        [letter] = await drain(c, 1)
    assert letter.topic == DEAD_LETTER_TOPIC
    data = msgpack.unpackb(letter.value)
    assert before_us <= data.pop("ts") <= time.time_ns() // 1000
    assert data == {
        "topic": TWEETS_TOPIC,
        "partition": 2,
        "offset": 41,
        "group": "fanout",
        "reason": "undecodable event: ...",
        "value": b"\xc1not msgpack",
    }
    parsed = parse_letter(letter)
    assert parsed is not None and parsed.record() == poison and parsed.group == "fanout"


async def test_appends_return_where_their_events_lie(backend: Backend) -> None:
    events = mixed_events(new_ids(4), per_author=3)
    single = await backend.log.append(events[0])
    many = await backend.log.append_many(events[1:])
    positions = [single, *many]
    assert all(isinstance(p, LogPosition) for p in positions)
    async with member(backend) as consumer:
        records = await drain(consumer, len(events))
    where = {decode(r.value).event_id: LogPosition(r.topic, r.partition, r.offset) for r in records}
    assert [where[e.event_id] for e in events] == positions


async def test_every_appended_event_is_counted_by_its_type(settings: Settings) -> None:
    """timeline_events_appended_total counts events, not records: each post of a pack (on
    Kafka, up to PACK_MAX_EVENTS in one record) and each event appended on its own."""
    metrics = Metrics()
    authors = new_ids(10)
    posts = [posted(authors[i % len(authors)]) for i in range(PACK_MAX_EVENTS * 2 + 50)]
    mixed = mixed_events(new_ids(4), per_author=3)  # 12 posts and 3 follows, a record each
    async with open_backend(settings, metrics) as backend:
        await backend.log.append_many(posts)
        await backend.log.append_many(mixed)
        await backend.log.append(posted(authors[0]))

    def appended(kind: str) -> float | None:
        return metrics.registry.get_sample_value("timeline_events_appended_total", {"type": kind})

    assert appended("tweet_posted") == len(posts) + 12 + 1
    assert appended("followed") == 3


async def test_a_started_log_takes_writes_and_a_stopped_one_does_not(backend: Backend) -> None:
    assert await backend.log.writable()
    await backend.log.append(posted(1))
    assert await backend.log.writable()
    await backend.log.stop()
    assert not await backend.log.writable()
