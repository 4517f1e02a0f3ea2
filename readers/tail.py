"""The log as a projection has written it: events released once their group committed them.

A readers process learns of new rows from the log alone. An `AppliedFeed` reads some topics
with a group-less tail (LogTail) a little ahead of one consumer group, holds each event, and
releases it once the group's committed offset for its partition has passed it: the group
commits only after its writes, so a released event is in the store. Released events are
handed over in id order as far as the tail can tell: a released tweet waits while a tweet
with a lower id, already read from another partition, is not yet written (at most
REORDER_MAX_S), so a stream's ids rise and `Last-Event-ID` is a sound place to resume.

The first start reads from the group's committed offsets (the end of the log where the group
never committed), so nothing the group has still to write is missed; after an error the tail
starts again exactly where it stopped releasing, so nothing is missed or released twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.backoff import Backoff
from engine.config import Settings
from engine.errors import PoisonEvent
from engine.events import Event, TweetPosted, decode_all
from engine.lifecycle import Background
from engine.ports import Backend, LogRecord, LogTail

log = logging.getLogger(__name__)
TopicPartition = tuple[str, int]
Deliver = Callable[[Sequence[Event]], None]
IDLE_POLL_MS = 1000
REORDER_MAX_S = 2.0
MAX_BACKOFF_S = 5.0


@dataclass(slots=True)
class _Held:
    """An event read from the log, waiting for its group to write it."""

    offset: int
    event: Event
    applied_at: float | None = None  # monotonic time its group was seen to have written it


class AppliedFeed(Background):
    """One consumer group's events, each released once the group has written it; it follows
    the log from start() until stop()."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        group: str,
        topics: Sequence[str],
        kinds: tuple[type[Event], ...],
        deliver: Deliver,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.group = group
        self.topics = tuple(topics)
        self.kinds = kinds
        self.deliver = deliver
        self.ready = asyncio.Event()
        self._held: dict[TopicPartition, deque[_Held]] = {}
        self._count = 0
        self._read: dict[TopicPartition, int] = {}  # next offset the tail reads
        self._released: dict[TopicPartition, int] = {}  # every offset below was released
        self._checked_at = 0.0
        self.task_name = f"feed-{group}"

    async def _close(self) -> None:
        self.ready.clear()

    @property
    def held(self) -> int:
        """Events read and not yet released."""
        return self._count

    async def _run(self) -> None:
        backoff = Backoff(cap=MAX_BACKOFF_S)
        while True:
            try:
                async with self.backend.tail(self.topics) as tail:
                    await self._position(tail)
                    self.ready.set()
                    backoff.reset()
                    await self._follow(tail)
            except asyncio.CancelledError:
                raise
            except Exception:
                wait = backoff.next()
                log.exception("the %s feed failed; reading again in %.1f s", self.group, wait)
                await asyncio.sleep(wait)

    async def _position(self, tail: LogTail) -> None:
        if not self._released:
            committed, ends = await asyncio.gather(tail.committed(self.group), tail.end_offsets())
            self._released = {tp: committed.get(tp, end) for tp, end in ends.items()}
        await tail.seek(self._released)
        self._read = dict(self._released)
        self._held, self._count = {}, 0

    async def _follow(self, tail: LogTail) -> None:
        step_s = self.settings.stream_commit_poll_ms / 1000
        while True:
            wait_s = IDLE_POLL_MS / 1000
            if self._count:
                wait_s = max(0.0, self._checked_at + step_s - time.monotonic())
            if self._count < self.settings.stream_held_max:
                self._hold(await tail.poll(1000, int(wait_s * 1000)))
                await asyncio.sleep(0)  # a poll that returns at once must not starve the loop
            else:
                await asyncio.sleep(wait_s)  # the group is far behind: let it catch up
            if self._count and time.monotonic() >= self._checked_at + step_s:
                self._checked_at = time.monotonic()
                self._release(await tail.committed(self.group))

    def _hold(self, records: list[LogRecord]) -> None:
        for r in records:
            tp = (r.topic, r.partition)
            self._read[tp] = r.offset + 1
            try:
                events = decode_all(r.value)
            except PoisonEvent:
                continue  # the group sets it aside; there is nothing to show
            for event in events:
                if type(event) in self.kinds:
                    self._held.setdefault(tp, deque()).append(_Held(r.offset, event))
                    self._count += 1

    def _release(self, committed: dict[TopicPartition, int]) -> None:
        now = time.monotonic()
        for tp, queue in self._held.items():
            upto = committed.get(tp, -1)
            for h in queue:
                if h.offset >= upto:
                    break
                if h.applied_at is None:
                    h.applied_at = now
        out = self._releasable(now)
        for tp, read in self._read.items():
            waiting = self._held.get(tp)
            if waiting:  # a restart must read the events still held again
                self._released[tp] = waiting[0].offset
            elif tp in committed:
                self._released[tp] = max(self._released[tp], min(committed[tp], read))
        if out:
            self._count -= len(out)
            out.sort(key=lambda e: e.event_id)
            self.deliver(out)

    def _releasable(self, now: float) -> list[Event]:
        """The written events at the head of each partition, keeping tweet ids in order."""
        floor = min(
            (
                h.event.event_id
                for queue in self._held.values()
                for h in queue
                if h.applied_at is None and type(h.event) is TweetPosted
            ),
            default=math.inf,
        )
        out: list[Event] = []
        for queue in self._held.values():
            while queue and (applied_at := queue[0].applied_at) is not None:
                head = queue[0].event
                early = type(head) is TweetPosted and head.event_id > floor
                if early and now - applied_at < REORDER_MAX_S:
                    break
                out.append(queue.popleft().event)
        return out
