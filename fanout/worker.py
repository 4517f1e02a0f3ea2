"""The fan-out consumer group: read a batch, write its projections, then commit its offsets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from engine.config import Settings
from engine.errors import PoisonEvent, TimelineError
from engine.events import (
    GRAPH_TOPIC,
    TWEETS_TOPIC,
    Event,
    Followed,
    TweetPosted,
    UserRegistered,
    decode,
)
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogRecord
from fanout.graph import GraphProjector
from fanout.timelines import TimelineProjector

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
LAG_EVERY_S = 5.0


class FanoutWorker:
    """One member of the fan-out group; a batch is retried until its writes succeed."""

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.group = settings.fanout_group
        self.graph = GraphProjector(settings, backend)
        self.timelines = TimelineProjector(settings, backend, metrics)
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: LogConsumer | None = None
        self._lag_at = 0.0

    async def run(self) -> None:
        """Consume until stop() is called; the batch in hand is finished and committed."""
        consumer = self.backend.consumer(self.group, [GRAPH_TOPIC, TWEETS_TOPIC], self._revoked)
        self._consumer = consumer
        async with consumer:
            while not self._stopping.is_set():
                records = await consumer.poll(
                    self.settings.fanout_batch_max_records, self.settings.fanout_poll_timeout_ms
                )
                if records:
                    async with self._lock:
                        await self._apply_until_done(records)
                        await consumer.commit(next_positions(records))
                await self._report_lag(consumer)

    def stop(self) -> None:
        """Ask the loop to stop after the batch in hand."""
        self._stopping.set()

    async def _revoked(self) -> None:
        async with self._lock:  # the batch in hand finishes and commits first
            self.graph.forget()

    async def _apply_until_done(self, records: Sequence[LogRecord]) -> None:
        backoff = 0.1
        while True:
            try:
                await self.apply(records)
                return
            except TimelineError as e:
                if not e.retriable:
                    raise
                log.warning("fan-out batch failed (%s); retrying in %.1fs", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def apply(self, records: Sequence[LogRecord]) -> None:
        """Write the projections of one batch: users, then the graph, then tweets."""
        self.metrics.batch_records.labels(self.group).observe(len(records))
        decoded = [(r, e) for r in records if (e := self._decode(r)) is not None]
        await self.graph.apply_users([e for _, e in decoded if isinstance(e, UserRegistered)])
        await self.graph.apply_follows([(r, e) for r, e in decoded if isinstance(e, Followed)])
        await self.timelines.apply_posts([e for _, e in decoded if isinstance(e, TweetPosted)])
        for _, e in decoded:
            self.metrics.consumed.labels(self.group, e.type_name).inc()

    def _decode(self, record: LogRecord) -> Event | None:
        try:
            return decode(record.value)
        except PoisonEvent as e:
            self.metrics.poison_events.labels(self.group).inc()
            log.error(
                "skipping poison event at %s/%d@%d: %s",
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
