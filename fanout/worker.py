"""A consumer-group member: read a batch, write its projection, then commit its offsets.

An event this code is too old to read (EventTooNew) is never skipped: its partition stops
there, uncommitted, until a process that reads it takes over. Bytes that cannot be read at
all go to the dead-letter topic, and the partition goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from engine.backoff import Backoff
from engine.errors import EventTooNew, PoisonEvent, TimelineError
from engine.events import Event
from engine.lifecycle import Background
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogRecord
from fanout.projector import Decoded, Projector

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
LAG_EVERY_S = 5.0
STOP_GRACE_S = 30.0
RESTART_S = 1.0
T = TypeVar("T")


class ConsumerWorker(Background):
    """One member of a consumer group; a batch is retried until its writes succeed.

    A batch that failed is applied again whole, after the projector forgets what it holds in
    memory: a held row updated for a write that then failed would otherwise make the retry
    take that write as done (its offset already covered) and leave the store without it.

    Between start() and stop() it consumes in a task, started again a second after any error.
    stop() lets the batch in hand finish and commit (up to STOP_GRACE_S), then cancels.
    """

    stop_grace_s = STOP_GRACE_S

    def __init__(
        self,
        backend: Backend,
        metrics: Metrics,
        group: str,
        projector: Projector,
        batch_max_records: int = 2000,
        poll_timeout_ms: int = 50,
        gather_ms: int = 0,
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self._batch_seconds = metrics.batch_seconds.labels(group)
        self.group = group
        self.projector = projector
        self.batch_max_records = batch_max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.gather_ms = gather_ms
        self.task_name = group
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._lag_at = 0.0
        self.idle_since: float | None = None  # monotonic time of the first empty poll in a row
        self.blocked: dict[tuple[str, int], int] = {}  # partition -> offset of an event too new
        self._projector_open = False

    async def _open(self) -> None:
        self._stopping.clear()

    def _finish(self) -> None:
        self._stopping.set()  # the loop returns after the batch in hand

    async def _run(self) -> None:
        """Consume; if it fails, log the error and consume again."""
        while True:
            try:
                await self._consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer %s failed; restarting in %.0f s", self.group, RESTART_S)
                await asyncio.sleep(RESTART_S)

    async def _consume(self) -> None:
        """Consume until asked to finish; the batch in hand is finished and committed."""
        consumer = self.backend.consumer(
            self.group, self.projector.topics, self._revoked, gather_ms=self.gather_ms
        )
        async with consumer:
            while not self._stopping.is_set():
                records = await consumer.poll(self.batch_max_records, self.poll_timeout_ms)
                self._note_idle(bool(records))
                if records:
                    started = time.monotonic()
                    async with self._lock:
                        covered = await self.apply_until_done(records)
                        if covered:
                            await consumer.commit(next_positions(covered))
                    self._batch_seconds.observe(time.monotonic() - started)
                await self._report_lag(consumer)

    def _note_idle(self, busy: bool) -> None:
        if busy:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = time.monotonic()

    async def _revoked(self) -> None:
        async with self._lock:  # the batch in hand finishes and commits first
            self.projector.forget()
            self._unblock()  # the next owner reads from the last commit, and stops there again

    async def apply_until_done(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """apply(), retried until the store takes the writes; the records it covers."""
        return await self._until_done(lambda: self.apply(records))

    async def write_until_done(self, decoded: Sequence[Decoded]) -> None:
        """Write events already decoded (dead letters brought back), retried likewise."""
        await self._until_done(lambda: self.projector.apply(decoded))

    async def open_projector(self) -> None:
        """Open the projector for this group, once, before its first batch."""
        if not self._projector_open:
            await self.projector.open(self.group)
            self._projector_open = True

    async def close_projector(self) -> None:
        """Close the projector if it was opened; calling it twice is fine."""
        if self._projector_open:
            self._projector_open = False
            await self.projector.close()

    async def _close(self) -> None:
        await self.close_projector()

    async def _until_done(self, step: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff(cap=MAX_BACKOFF_S)
        while True:
            try:
                await self.open_projector()
                return await step()
            except TimelineError as e:
                if not e.retriable:
                    raise
                # rows held in memory may be ahead of a store write that failed: read them again
                self.projector.forget()
                wait = backoff.next()
                log.warning("%s batch failed (%s); retrying in %.1fs", self.group, e, wait)
                await asyncio.sleep(wait)

    async def apply(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Write the projection of one batch; the records it covers, which may be committed.

        A partition stops at its first event too new to read: neither that event nor any
        after it in the partition is applied or covered.
        """
        await self.open_projector()
        self.metrics.batch_records.labels(self.group).observe(len(records))
        decoded: list[Decoded] = []
        covered: list[LogRecord] = []
        for record in records:
            stop = self.blocked.get((record.topic, record.partition))
            if stop is not None and record.offset >= stop:
                continue
            try:
                events = await self._decode(record)
            except EventTooNew as too_new:
                self._block(record, too_new)
                continue
            covered.append(record)
            decoded.extend((record, event) for event in events)
        # a pack holds many events: the projector takes at most batch_max_records at a time
        step = max(1, self.batch_max_records)
        for start in range(0, max(1, len(decoded)), step):
            await self.projector.apply(decoded[start : start + step])
        self._count_consumed(decoded)
        return covered

    def _count_consumed(self, decoded: Sequence[Decoded]) -> None:
        counts: dict[str, int] = {}
        for _, e in decoded:
            counts[e.type_name] = counts.get(e.type_name, 0) + 1
        for type_name, n in counts.items():
            self.metrics.consumed.labels(self.group, type_name).inc(n)

    def _block(self, record: LogRecord, error: EventTooNew) -> None:
        self.blocked[(record.topic, record.partition)] = record.offset
        self.metrics.consumer_blocked.labels(self.group, record.topic, str(record.partition)).set(1)
        log.error(
            "group %s stops at %s/%d@%d: %s; it goes on once a version that reads this event "
            "consumes the partition (upgrade consumers before producers)",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            error,
        )

    def _unblock(self) -> None:
        for topic, partition in self.blocked:
            self.metrics.consumer_blocked.labels(self.group, topic, str(partition)).set(0)
        self.blocked.clear()

    async def _decode(self, record: LogRecord) -> list[Event]:
        """The record's events (one, or a pack's); none when it was set aside as poison."""
        try:
            return self.projector.decode(record.value)
        except EventTooNew:
            raise
        except PoisonEvent as e:
            await self.backend.log.dead_letter(record, self.group, str(e))
            self.metrics.poison_events.labels(self.group).inc()
            log.error(
                "poison event at %s/%d@%d sent to the dead-letter topic: %s",
                record.topic,
                record.partition,
                record.offset,
                e,
            )
            return []

    async def _report_lag(self, consumer: LogConsumer) -> None:
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY_S:
            return
        self._lag_at = now
        for (topic, partition), lag in (await consumer.lag()).items():
            self.metrics.consumer_lag.labels(self.group, topic, str(partition)).set(lag)


def next_positions(records: Sequence[LogRecord]) -> dict[tuple[str, int], int]:
    """The offset to resume from in each (topic, partition) after these records."""
    positions: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        positions[key] = max(positions.get(key, 0), r.offset + 1)
    return positions
