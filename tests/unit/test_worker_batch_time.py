"""A consumer times each batch from its poll to its commit (timeline_consumer_batch_seconds)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from engine.events import TWEETS_TOPIC, Followed, encode
from engine.metrics import Metrics
from engine.ports import LogRecord, ProjectionStore
from fanout.projector import Decoded, Projector
from fanout.worker import ConsumerWorker

pytestmark = pytest.mark.unit

APPLY_S = 0.05


class Slow(Projector):
    def stores(self) -> tuple[ProjectionStore, ...]:
        return ()

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await asyncio.sleep(APPLY_S)


class Consumer:
    """One batch, then empty polls; the worker is told to finish once it committed."""

    def __init__(self, worker: list[ConsumerWorker]) -> None:
        self.worker = worker
        self.batches = [[LogRecord(TWEETS_TOPIC, 0, 0, encode(Followed(1, 1, 2, 3)))]]
        self.commits: list[dict[tuple[str, int], int]] = []

    async def __aenter__(self) -> Consumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        return self.batches.pop() if self.batches else []

    async def commit(self, positions: dict[tuple[str, int], int]) -> None:
        self.commits.append(positions)
        self.worker[0]._finish()

    async def lag(self) -> dict[tuple[str, int], int]:
        return {}


class Backend:
    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    def consumer(self, *args: Any, **kwargs: Any) -> Consumer:
        return self._consumer


async def test_each_batch_is_timed_from_its_poll_to_its_commit() -> None:
    metrics, holder = Metrics(), []
    consumer = Consumer(holder)
    backend: Any = Backend(consumer)
    worker = ConsumerWorker(backend, metrics, "g", Slow())
    holder.append(worker)
    await asyncio.wait_for(worker._consume(), timeout=10)
    value = metrics.registry.get_sample_value
    assert consumer.commits == [{(TWEETS_TOPIC, 0): 1}]
    assert value("timeline_consumer_batch_seconds_count", {"group": "g"}) == 1
    assert value("timeline_consumer_batch_seconds_sum", {"group": "g"}) >= APPLY_S
