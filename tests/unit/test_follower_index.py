"""The follower index: newest change per edge wins, a snapshot plus the log from the group's
commits converges to the log's state, and caught_up() waits for what was appended before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from engine.events import GRAPH_TOPIC, Followed, Unfollowed, encode
from engine.ports import Backend, LogRecord
from fanout.audience import FollowerIndex

pytestmark = pytest.mark.unit
TP = (GRAPH_TOPIC, 0)


class Graph:
    def __init__(self, edges: list[tuple[int, int]], changes: list[tuple[int, int, int]]) -> None:
        self.edges, self.changes = edges, changes

    async def scan_edges(self) -> AsyncIterator[list[tuple[int, int]]]:
        yield self.edges

    async def scan_changes(self) -> AsyncIterator[list[tuple[int, int, int]]]:
        yield self.changes


class Tail:
    """A graph topic of one partition held in a list; committed offsets set by the test."""

    def __init__(self, records: list[bytes], committed: int = 0) -> None:
        self.records = records
        self.committed_at = committed
        self.next = 0
        self.held = asyncio.Event()  # cleared: poll hands out nothing
        self.held.set()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        return {TP: self.committed_at} if self.committed_at else {}

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        return {TP: len(self.records)}

    async def seek(self, positions: dict[tuple[str, int], int]) -> None:
        self.next = positions[TP]

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        await asyncio.sleep(0.001)
        if not self.held.is_set():
            return []
        out = [
            LogRecord(GRAPH_TOPIC, 0, offset, self.records[offset])
            for offset in range(self.next, min(len(self.records), self.next + max_records))
        ]
        self.next += len(out)
        return out


class FakeBackend:
    def __init__(self, graph: Graph, tail: Tail) -> None:
        self.graph, self._tail = graph, tail

    def tail(self, topics: Any) -> Tail:
        return self._tail


def follow(follower: int, followee: int, ts: int, *, undo: bool = False) -> bytes:
    kind = Unfollowed if undo else Followed
    return encode(kind(ts, ts, follower, followee))


async def opened(graph: Graph, tail: Tail) -> FollowerIndex:
    index = FollowerIndex(cast(Backend, FakeBackend(graph, tail)))
    await index.open("g")
    return index


async def test_the_newest_change_of_an_edge_wins_whatever_the_log_order() -> None:
    records = [
        follow(1, 9, 10),
        follow(2, 9, 11),
        follow(1, 9, 20, undo=True),
        follow(1, 9, 10),  # a second record of the first follow, landing late: ignored
        follow(3, 9, 30, undo=True),  # unfollowing a stranger
        follow(3, 9, 25),  # older than that unfollow: ignored
    ]
    index = await opened(Graph([], []), Tail(records))
    try:
        assert set(index.followers(9)) == {2}
        assert index.follower_count(9) == 1
        assert set(index.followers(1)) == set()
    finally:
        await index.stop()


async def test_a_snapshot_taken_while_the_projection_writes_converges_to_the_log() -> None:
    # The log: 1 follows 9 (offset 0), 2 follows 9 (1), 1 unfollows 9 (2), 3 follows 9 (3).
    records = [follow(1, 9, 10), follow(2, 9, 11), follow(1, 9, 20, undo=True), follow(3, 9, 30)]
    # The group committed offset 1; the tables were read while offset 2 was being applied:
    # the followers table still had 1 -> 9, the changes table already had its unfollow.
    graph = Graph(edges=[(1, 9), (2, 9)], changes=[(1, 9, 20), (2, 9, 11)])
    index = await opened(graph, Tail(records, committed=1))
    try:
        assert set(index.followers(9)) == {2, 3}
    finally:
        await index.stop()


async def test_caught_up_waits_for_every_record_appended_before_it() -> None:
    tail = Tail([follow(1, 9, 10)])
    index = await opened(Graph([], []), tail)
    try:
        assert set(index.followers(9)) == {1}
        tail.held.clear()
        tail.records.append(follow(2, 9, 11))
        waiting = asyncio.create_task(index.caught_up())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the follow is in the log, not yet in the index
        tail.held.set()
        await asyncio.wait_for(waiting, 2)
        assert set(index.followers(9)) == {1, 2}
    finally:
        await index.stop()


async def test_one_int_object_per_user_however_many_edges_name_them() -> None:
    records = [follow(1_000_000_000_007, author, 10) for author in range(100, 110)]
    index = await opened(Graph([], []), Tail(records))
    try:
        held = [next(iter(index.followers(author))) for author in range(100, 110)]
        assert all(h is held[0] for h in held)
    finally:
        await index.stop()
