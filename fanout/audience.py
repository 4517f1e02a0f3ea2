"""Each author's followers in memory, fed from the graph topic: fan-out reads no graph rows.

Why an audience computed from this index is correct (a tweet T by A, a follow F of A by B):

- F appended before T's user-timeline row is written: fan-out writes T's user-timeline row,
  then asks the log for the graph topic's end offsets and waits until the index has read up
  to them (`caught_up`). F's offset is below those ends, so B is in A's followers when T's
  audience is taken, and T reaches B's home timeline.
- F appended after T's user-timeline row is written: the graph projection applies F later
  still, and its backfill reads A's user timeline, which already holds T.

Either way T reaches B (both may: every home row is an idempotent upsert). An unfollow is
the mirror image: one taken before the row drops B from the audience, one taken after
cleans B's home timeline of A's tweets.

An edge keeps the time of its newest change, as the graph projection's tables do: a follow
or unfollow older than the edge's last change is ignored (a retried request's second record
of one event, or a skewed clock), so the index and the tables agree on every edge. A change
with the same time as the last is applied again, which leaves the state as it was when it is
the same event; this is also what lets a snapshot taken while the projection writes converge
(below). Two different changes of one edge in the same microsecond are the one case where
the index (last in log order wins) and the tables (first wins) may differ.

A process starts from a snapshot, not from the first follow ever made: it reads the offsets
the graph projection's consumer group has committed (C), then the graph tables (present
edges, then each edge's last change), then reads the graph topic from C. The tables hold
every event below C and maybe some after it; every event from C on is applied again in log
order and, by the rule above, the newest change of each edge wins, which is the log's state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection

from engine.backoff import Backoff
from engine.errors import LogUnavailable, PoisonEvent
from engine.events import GRAPH_TOPIC, Followed, Unfollowed, decode_all
from engine.lifecycle import Background
from engine.ports import Backend, LogRecord, LogTail

log = logging.getLogger(__name__)
POLL_RECORDS = 5000
POLL_TIMEOUT_MS = 50
CATCH_UP_TIMEOUT_S = 10.0
Positions = dict[tuple[str, int], int]
_NONE: dict[int, int] = {}


class FollowerIndex(Background):
    """followee -> {follower: time of the edge's last change}, live edges and removed ones.

    open(group) loads the snapshot for that consumer group's commits and reads the graph
    topic up to its end; a task then keeps reading it until stop().
    """

    task_name = "follower-index"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._tail: LogTail | None = None
        self.group = ""
        self._live: dict[int, dict[int, int]] = {}
        self._gone: dict[int, dict[int, int]] = {}
        self._ids: dict[int, int] = {}  # one int object per user id, shared by every edge
        self._positions: Positions = {}
        self._ends: Positions = {}
        self._advanced = asyncio.Condition()
        self.started_s: float | None = None  # how long the last open() took

    @property
    def edges(self) -> int:
        """Live edges held."""
        return sum(map(len, self._live.values()))

    def followers(self, author_id: int) -> Collection[int]:
        """The author's followers as far as the index has read the log."""
        return self._live.get(author_id, _NONE).keys()

    def follower_count(self, author_id: int) -> int:
        return len(self._live.get(author_id, _NONE))

    async def open(self, group: str) -> None:
        """Start from the snapshot that goes with `group`'s commits; return once the index
        has read the graph topic up to where it ended when open() was called."""
        if self.running:
            return
        began = time.monotonic()
        self.group = group
        await self.start()
        await self._wait_for(self._ends)
        self.started_s = time.monotonic() - began
        log.info(
            "follower index: %d edges in %.1fs (a snapshot, then the graph topic from the "
            "commits of %s)",
            self.edges,
            self.started_s,
            group,
        )

    async def _open(self) -> None:
        if not self.group:
            raise ValueError("a follower index starts with open(group)")
        self._live.clear()
        self._gone.clear()
        self._ids.clear()
        tail = self._tail = self.backend.tail([GRAPH_TOPIC])
        await tail.start()
        try:
            committed = await tail.committed(self.group)
            self._ends = await tail.end_offsets()
            await self._load_snapshot()
            self._positions = {tp: committed.get(tp, 0) for tp in self._ends}
            await tail.seek(self._positions)
        except BaseException:
            await tail.stop()
            raise

    async def _close(self) -> None:
        if self._tail is not None:
            await self._tail.stop()

    @property
    def tail(self) -> LogTail:
        if self._tail is None:
            raise LogUnavailable("the follower index is not reading the graph topic")
        return self._tail

    async def caught_up(self) -> None:
        """Wait until every graph record appended before this call has been applied."""
        if not self.running:
            raise LogUnavailable("the follower index is not reading the graph topic")
        await self._wait_for(await self.tail.end_offsets())

    async def _wait_for(self, ends: Positions) -> None:
        def reached() -> bool:
            return all(self._positions.get(tp, 0) >= end for tp, end in ends.items())

        if reached():
            return
        try:
            async with self._advanced:
                await asyncio.wait_for(self._advanced.wait_for(reached), CATCH_UP_TIMEOUT_S)
        except TimeoutError:
            behind = {tp: end for tp, end in ends.items() if self._positions.get(tp, 0) < end}
            raise LogUnavailable(
                f"the follower index is behind the graph topic (ends {behind})"
            ) from None

    async def _load_snapshot(self) -> None:
        async for pairs in self.backend.graph.scan_edges():
            for follower, followee in pairs:
                self._set(follower, followee, 0, present=True)
        async for changes in self.backend.graph.scan_changes():
            for follower, followee, changed_us in changes:
                live = self._live.get(followee, _NONE)
                self._set(follower, followee, changed_us, present=follower in live)

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                records = await self.tail.poll(POLL_RECORDS, POLL_TIMEOUT_MS)
            except LogUnavailable as e:
                log.warning("follower index cannot read the graph topic (%s); retrying", e)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            if records:
                self.apply(records)
                async with self._advanced:
                    self._advanced.notify_all()

    def apply(self, records: list[LogRecord]) -> None:
        """Apply graph records in log order and advance the positions past them."""
        positions = self._positions
        for record in records:
            tp = (record.topic, record.partition)
            if record.offset + 1 > positions.get(tp, 0):
                positions[tp] = record.offset + 1
            if record.topic != GRAPH_TOPIC:
                continue
            try:
                events = decode_all(record.value)
            except PoisonEvent:
                continue  # the graph projection's consumer sets it aside
            for event in events:
                if isinstance(event, Followed):
                    present = not isinstance(event, Unfollowed)
                    self._set(event.follower_id, event.followee_id, event.ts_us, present=present)

    def _set(self, follower: int, followee: int, changed_us: int, *, present: bool) -> None:
        ids = self._ids
        follower = ids.setdefault(follower, follower)
        followee = ids.setdefault(followee, followee)
        live = self._live.get(followee)
        gone = self._gone.get(followee)
        last = max(
            live.get(follower, -1) if live is not None else -1,
            gone.get(follower, -1) if gone is not None else -1,
        )
        if changed_us < last:
            return
        if present:
            if gone is not None:
                gone.pop(follower, None)
            self._live.setdefault(followee, {})[follower] = changed_us
        else:
            if live is not None and live.pop(follower, None) is not None and not live:
                del self._live[followee]
            self._gone.setdefault(followee, {})[follower] = changed_us
