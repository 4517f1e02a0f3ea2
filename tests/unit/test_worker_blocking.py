"""A consumer stops a partition at an event too new to read; bad bytes are set aside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import pytest

from engine.events import TWEETS_TOPIC, Followed, encode, encode_pack
from engine.metrics import Metrics
from engine.ports import LogRecord, ProjectionStore
from fanout.projector import Decoded, Projector
from fanout.worker import ConsumerWorker

pytestmark = pytest.mark.unit

NEWER = msgpack.packb({"v": 1, "type": "followed", "sv": 9, "id": 1, "ts": 1, "d": {}})


class Recorder(Projector):
    def __init__(self) -> None:
        self.applied: list[int] = []
        self.batches: list[list[int]] = []  # the event ids of each apply

    def stores(self) -> tuple[ProjectionStore, ...]:
        return ()

    async def apply(self, batch: Sequence[Decoded]) -> None:
        self.applied += [r.offset for r, _ in batch]
        self.batches.append([e.event_id for _, e in batch])


class Log:
    def __init__(self) -> None:
        self.letters: list[tuple[LogRecord, str, str]] = []

    async def dead_letter(self, record: LogRecord, group: str, reason: str) -> None:
        self.letters.append((record, group, reason))


class FakeBackend:
    def __init__(self) -> None:
        self.log = Log()


def record(partition: int, offset: int, value: bytes | None = None) -> LogRecord:
    return LogRecord(TWEETS_TOPIC, partition, offset, value or encode(Followed(offset, 1, 2, 3)))


def worker() -> tuple[ConsumerWorker, Recorder, FakeBackend, Metrics]:
    projector, backend, metrics = Recorder(), FakeBackend(), Metrics()
    fake: Any = backend
    return ConsumerWorker(fake, metrics, "g", projector), projector, backend, metrics


def blocked_gauge(metrics: Metrics, partition: int) -> float | None:
    labels = {"group": "g", "topic": TWEETS_TOPIC, "partition": str(partition)}
    return metrics.registry.get_sample_value("timeline_consumer_blocked", labels)


async def test_a_partition_stops_at_an_event_too_new_and_others_go_on() -> None:
    w, projector, backend, metrics = worker()
    batch = [record(0, 1), record(1, 7), record(0, 2, NEWER), record(0, 3), record(1, 8)]
    covered = await w.apply(batch)
    assert projector.applied == [1, 7, 8]
    assert [(r.partition, r.offset) for r in covered] == [(0, 1), (1, 7), (1, 8)]
    assert w.blocked == {(TWEETS_TOPIC, 0): 2}
    assert blocked_gauge(metrics, 0) == 1
    assert backend.log.letters == []  # never dead-lettered

    later = await w.apply([record(0, 4), record(1, 9)])  # the partition stays stopped
    assert [(r.partition, r.offset) for r in later] == [(1, 9)]

    await w._revoked()  # partitions move: the next owner starts again at the last commit
    assert w.blocked == {}
    assert blocked_gauge(metrics, 0) == 0


async def test_a_retried_batch_still_applies_what_lies_before_the_stop() -> None:
    w, projector, _, _ = worker()
    batch = [record(0, 1), record(0, 2, NEWER)]
    await w.apply(batch)
    assert [r.offset for r in await w.apply(batch)] == [1]
    assert projector.applied == [1, 1]


async def test_undecodable_bytes_are_dead_lettered_and_the_partition_goes_on() -> None:
    w, projector, backend, _ = worker()
    covered = await w.apply([record(0, 1, b"\xc1junk"), record(0, 2)])
    assert [r.offset for r in covered] == [1, 2]
    assert projector.applied == [2]
    assert [(r.offset, g) for r, g, _ in backend.log.letters] == [(1, "g")]
    assert w.blocked == {}


def test_a_rebuild_refuses_to_skip_an_event_too_new() -> None:
    from engine.errors import EventTooNew
    from timeline.rebuild import _refuse_blocked

    w, _, _, _ = worker()
    _refuse_blocked(w)  # nothing stopped: the rebuild goes on
    w.blocked[(TWEETS_TOPIC, 1)] = 7
    with pytest.raises(EventTooNew, match="tweets/1@7"):
        _refuse_blocked(w)


async def test_a_pack_is_applied_event_by_event_in_batches_of_at_most_batch_max_records() -> None:
    projector, backend, metrics = Recorder(), FakeBackend(), Metrics()
    fake: Any = backend
    w = ConsumerWorker(fake, metrics, "g", projector, batch_max_records=4)
    pack = encode_pack([Followed(100 + i, 1, 2, 3) for i in range(7)])
    covered = await w.apply([record(0, 1), record(0, 2, pack), record(0, 3)])
    assert [r.offset for r in covered] == [1, 2, 3]
    assert projector.batches == [[1, 100, 101, 102], [103, 104, 105, 106], [3]]
    labels = {"group": "g", "type": "followed"}
    assert metrics.registry.get_sample_value("timeline_consumer_events_total", labels) == 9
