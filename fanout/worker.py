"""A consumer-group member: read a batch, write its projection, then commit its offsets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from engine.errors import PoisonEvent, TimelineError
from engine.events import Event, decode
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogRecord
from fanout.projection import Decoded, Projector

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
LAG_EVERY_S = 5.0


class ConsumerWorker:
    """One member of a consumer group; a batch is retried until its writes succeed."""

    def __init__(
        self,
        backend: Backend,
        metrics: Metrics,
        group: str,
        projector: Projector,
        batch_max_records: int = 2000,
        poll_timeout_ms: int = 50,
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self.group = group
        self.projector = projector
        self.batch_max_records = batch_max_records
        self.poll_timeout_ms = poll_timeout_ms
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._lag_at = 0.0
        self.idle_since: float | None = None  # monotonic time of the first empty poll in a row

    async def run(self) -> None:
        """Consume until stop() is called; the batch in hand is finished and committed."""
        consumer = self.backend.consumer(self.group, self.projector.topics, self._revoked)
        async with consumer:
            while not self._stopping.is_set():
                records = await consumer.poll(self.batch_max_records, self.poll_timeout_ms)
                self._note_idle(bool(records))
                if records:
                    async with self._lock:
                        await self.apply_until_done(records)
                        await consumer.commit(next_positions(records))
                await self._report_lag(consumer)

    def _note_idle(self, busy: bool) -> None:
        if busy:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = time.monotonic()

    def stop(self) -> None:
        """Ask the loop to stop after the batch in hand."""
        self._stopping.set()

    async def _revoked(self) -> None:
        async with self._lock:  # the batch in hand finishes and commits first
            self.projector.forget()

    async def apply_until_done(self, records: Sequence[LogRecord]) -> None:
        backoff = 0.1
        while True:
            try:
                await self.apply(records)
                return
            except TimelineError as e:
                if not e.retriable:
                    raise
                log.warning("%s batch failed (%s); retrying in %.1fs", self.group, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def apply(self, records: Sequence[LogRecord]) -> None:
        """Write the projection of one batch."""
        self.metrics.batch_records.labels(self.group).observe(len(records))
        decoded: list[Decoded] = []
        for record in records:
            event = await self._decode(record)
            if event is not None:
                decoded.append((record, event))
        await self.projector.apply(decoded)
        for _, e in decoded:
            self.metrics.consumed.labels(self.group, e.type_name).inc()

    async def _decode(self, record: LogRecord) -> Event | None:
        try:
            return decode(record.value)
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
            return None

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
