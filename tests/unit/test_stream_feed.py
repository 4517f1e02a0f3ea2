"""AppliedFeed: events released once their group committed them, in id order, never twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from engine.config import Settings
from engine.events import Event, TweetPosted, encode
from engine.ports import LogRecord, LogTail
from engine.records import Tweet
from readers.tail import AppliedFeed

pytestmark = pytest.mark.unit
GROUP = "fanout"
TP0, TP1 = ("tweets", 0), ("tweets", 1)


class MemoryTail(LogTail):
    """A log in memory, with a group's commits set by the test; fails once when told to."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.positions: dict[tuple[str, int], int] = {}

    async def start(self) -> None:
        self.positions = await self.end_offsets()

    async def stop(self) -> None:
        return None

    async def seek(self, positions: dict[tuple[str, int], int]) -> None:
        self.positions.update(positions)

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        if self.log.fail_next:
            self.log.fail_next = False
            raise ConnectionError("the log went away")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            out = []
            for tp, start in self.positions.items():
                for offset, value in enumerate(self.log.records[tp][start:], start):
                    out.append(LogRecord(tp[0], tp[1], offset, value))
                self.positions[tp] = len(self.log.records[tp])
            if out or loop.time() >= deadline:
                return out
            await asyncio.sleep(0.002)  # a real tail wakes on an append

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        return {tp: len(records) for tp, records in self.log.records.items()}

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        return dict(self.log.committed)


class MemoryLog:
    """What the fake backend holds: records per partition and one group's commits."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[bytes]] = {TP0: [], TP1: []}
        self.committed: dict[tuple[str, int], int] = {TP0: 0, TP1: 0}
        self.fail_next = False
        self.tails = 0

    def tail(self, topics: Sequence[str]) -> LogTail:
        self.tails += 1
        return MemoryTail(self)

    def append(self, tp: tuple[str, int], tweet_id: int) -> None:
        tweet = Tweet(tweet_id, 1, "a", "Сәлем", 0)
        self.records[tp].append(encode(TweetPosted(tweet_id, 0, tweet)))


async def feed_of(log: MemoryLog) -> tuple[AppliedFeed, list[int]]:
    got: list[int] = []

    def deliver(events: Sequence[Event]) -> None:
        got.extend(e.event_id for e in events)

    backend: Any = log
    settings = Settings(stream_commit_poll_ms=1)
    feed = AppliedFeed(settings, backend, GROUP, ("tweets",), (TweetPosted,), deliver)
    await feed.start()
    await asyncio.wait_for(feed.ready.wait(), 5)
    return feed, got


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_an_event_is_released_once_its_group_committed_past_it() -> None:
    log = MemoryLog()
    feed, got = await feed_of(log)
    try:
        log.append(TP0, 10)
        log.append(TP0, 11)
        await settle()
        assert got == [] and feed.held == 2
        log.committed[TP0] = 1
        await settle()
        assert got == [10]
        log.committed[TP0] = 2
        await settle()
        assert got == [10, 11] and feed.held == 0
    finally:
        await feed.stop()


async def test_a_higher_id_waits_for_a_lower_one_read_from_another_partition() -> None:
    log = MemoryLog()
    feed, got = await feed_of(log)
    try:
        log.append(TP0, 20)
        log.append(TP1, 21)
        await settle()
        log.committed[TP1] = 1  # 21 is written, 20 not yet
        await settle()
        assert got == []
        log.committed[TP0] = 1
        await settle()
        assert got == [20, 21]
    finally:
        await feed.stop()


async def test_after_a_failure_the_feed_reads_on_from_where_it_released() -> None:
    log = MemoryLog()
    feed, got = await feed_of(log)
    try:
        log.append(TP0, 30)
        log.append(TP1, 31)
        log.committed[TP0] = 1
        await settle()
        assert got == [30]
        log.fail_next = True
        log.append(TP1, 32)
        await asyncio.sleep(0.3)  # the feed backs off 0.1 s, then opens a new tail
        log.committed[TP1] = 2
        await settle()
        assert log.tails == 2
        assert got == [30, 31, 32]
    finally:
        await feed.stop()


async def test_the_first_start_reads_from_the_groups_commit() -> None:
    log = MemoryLog()
    log.append(TP0, 40)  # in the log before the readers started, not yet written
    log.append(TP0, 41)
    log.committed[TP0] = 1  # 40 is written: the store read of a resumed stream has it
    feed, got = await feed_of(log)
    try:
        log.committed[TP0] = 2
        await settle()
        assert got == [41]
    finally:
        await feed.stop()
