"""The LogTail port: a group-less reader from the end of the log, and groups' commits."""

from __future__ import annotations

import asyncio
import time
import uuid

from engine.events import GRAPH_TOPIC, TWEETS_TOPIC, Event, decode, decode_all
from engine.ports import Backend, LogRecord, LogTail
from fanout.worker import next_positions
from tests.contract.conftest import PARTITIONS
from tests.contract.helpers import drain, followed, new_ids, noop, posted

TOPICS = [GRAPH_TOPIC, TWEETS_TOPIC]


async def read(tail: LogTail, want: int, timeout_s: float = 20.0) -> list[LogRecord]:
    records: list[LogRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < want and time.monotonic() < deadline:
        records += await tail.poll(max_records=500, timeout_ms=200)
    return records


def event_ids(records: list[LogRecord]) -> list[int]:
    return sorted(decode(r.value).event_id for r in records)


def events(n: int) -> list[Event]:
    authors = new_ids(n)
    return [posted(a) for a in authors] + [followed(authors[0], authors[-1])]


async def test_a_tail_starts_at_the_end_and_reads_what_comes_after(backend: Backend) -> None:
    before = events(4)
    await backend.log.append_many(before)
    async with backend.tail(TOPICS) as tail:
        assert await tail.poll(max_records=100, timeout_ms=300) == []
        after = events(6)
        outcomes = await backend.log.append_many(after)
        assert not [o for o in outcomes if isinstance(o, BaseException)]
        records = await read(tail, len(after))
        assert await tail.poll(max_records=100, timeout_ms=300) == []
    assert event_ids(records) == sorted(e.event_id for e in after)
    for r in records:
        assert r.topic in TOPICS and 0 <= r.partition < PARTITIONS


async def test_a_tail_reads_one_keys_events_in_order(backend: Backend) -> None:
    async with backend.tail([TWEETS_TOPIC]) as tail:
        author = new_ids(1)[0]
        appended = [posted(author) for _ in range(15)]
        await backend.log.append_many(appended)
        records = await read(tail, 1)
        read_events = [e for r in records for e in decode_all(r.value)]
        while len(read_events) < len(appended):  # Kafka carries the posts in a pack
            more = await read(tail, 1)
            assert more, "the tail stopped short of the appended events"
            records += more
            read_events += [e for r in more for e in decode_all(r.value)]
    assert [e.event_id for e in read_events] == [e.event_id for e in appended]
    offsets = [r.offset for r in records]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


async def test_seek_rereads_from_an_offset(backend: Backend) -> None:
    appended = events(5)
    await backend.log.append_many(appended)
    async with backend.tail(TOPICS) as tail:
        ends = await tail.end_offsets()
        assert set(ends) == {(t, p) for t in TOPICS for p in range(PARTITIONS)}
        assert sum(ends.values()) == len(appended)
        await tail.seek({tp: 0 for tp in ends})
        records = await read(tail, len(appended))
    assert event_ids(records) == sorted(e.event_id for e in appended)


async def test_poll_waits_for_its_timeout_and_wakes_on_an_append(backend: Backend) -> None:
    async with backend.tail(TOPICS) as tail:
        await tail.poll(max_records=10, timeout_ms=200)  # a Kafka fetch may start lazily
        started = time.monotonic()
        assert await tail.poll(max_records=10, timeout_ms=400) == []
        assert time.monotonic() - started >= 0.3
        waiting = asyncio.create_task(tail.poll(max_records=10, timeout_ms=10_000))
        await asyncio.sleep(0.2)
        event = posted(new_ids(1)[0])
        started = time.monotonic()
        await backend.log.append(event)
        records = await waiting
        assert time.monotonic() - started < 5
    assert [decode(r.value).event_id for r in records] == [event.event_id]


async def test_committed_is_what_a_group_committed_on_the_tails_topics(backend: Backend) -> None:
    appended = events(6)
    await backend.log.append_many(appended)
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with backend.tail([TWEETS_TOPIC]) as tail:
        assert await tail.committed(group) == {}
        async with backend.consumer(group, TOPICS, noop) as member:
            records = await drain(member, len(appended))
            positions = next_positions(records)
            await member.commit(positions)
        committed = await tail.committed(group)
    assert committed == {tp: n for tp, n in positions.items() if tp[0] == TWEETS_TOPIC}


async def test_a_tail_moves_no_group_and_commits_nothing(backend: Backend) -> None:
    appended = events(8)
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with backend.tail(TOPICS) as tail:
        await tail.seek({tp: 0 for tp in await tail.end_offsets()})
        await backend.log.append_many(appended)
        async with backend.consumer(group, TOPICS, noop) as member:
            seen_by_tail, seen_by_member = await asyncio.gather(
                read(tail, len(appended)), drain(member, len(appended))
            )
            done = seen_by_member[: len(seen_by_member) // 2]
            await member.commit(next_positions(done))
        assert await tail.committed(group) == next_positions(done)
        assert await tail.committed(f"g-{uuid.uuid4().hex[:8]}") == {}
    assert event_ids(seen_by_tail) == event_ids(seen_by_member)
    async with backend.consumer(group, TOPICS, noop) as again:
        rest = await drain(again, len(appended) - len(done))
    assert event_ids(rest) == event_ids(seen_by_member[len(done) :])
