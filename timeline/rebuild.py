"""`timeline rebuild <projection>`: empty one view and replay the log into it from the start."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from engine.adapters import open_backend
from engine.config import Settings
from engine.errors import EventTooNew
from engine.groups import group_name
from engine.metrics import Metrics
from engine.ports import LogConsumer
from fanout.projections import PROJECTIONS
from fanout.worker import ConsumerWorker, next_positions

POLL_RECORDS = 5000


async def _nothing() -> None:
    return None


async def rebuild(settings: Settings, projection: str, out: TextIO = sys.stderr) -> int:
    """Replay the whole log into one emptied projection; the number of events applied.

    The live consumers keep running: its stores are emptied first, then the end of the log is
    noted, and everything before it is replayed under a fresh consumer group. Every write
    is an upsert at its event's time, so live writes and replayed ones agree.
    """
    metrics = Metrics()
    backend = open_backend(settings, metrics)
    await backend.start()
    try:
        projector = PROJECTIONS[projection](settings, backend, metrics)
        await projector.clear()
        group = f"{group_name(settings, projection)}-rebuild-{int(time.time())}"
        worker = ConsumerWorker(backend, metrics, group, projector)
        consumer = backend.consumer(group, projector.topics, _nothing)
        try:
            async with consumer:
                applied = await _replay(consumer, worker, out)
        finally:
            await worker.close_projector()
    finally:
        await backend.stop()
    print(f"rebuilt {projection}: {applied} events replayed", file=out)
    return applied


async def _replay(consumer: LogConsumer, worker: ConsumerWorker, out: TextIO) -> int:
    ends = await consumer.end_offsets()
    done = dict.fromkeys(ends, 0)
    applied = 0
    with tqdm(total=sum(ends.values()), unit="event", file=out, mininterval=0.5) as bar:
        while any(done[tp] < end for tp, end in ends.items()):
            records = await consumer.poll(POLL_RECORDS, 500)
            wanted = [r for r in records if r.offset < ends.get((r.topic, r.partition), 0)]
            await worker.apply_until_done(wanted)
            _refuse_blocked(worker)
            done.update(next_positions(wanted))
            applied += len(wanted)
            bar.update(len(wanted))
    return applied


def _refuse_blocked(worker: ConsumerWorker) -> None:
    """EventTooNew when the log holds an event this version cannot read: a rebuild that
    skipped it would be wrong."""
    for (topic, partition), offset in worker.blocked.items():
        raise EventTooNew(
            f"{topic}/{partition}@{offset} holds an event this version cannot read; "
            "upgrade before rebuilding"
        )
