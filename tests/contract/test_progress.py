"""LogProgress over each backend's LogTail: waits end once a group has committed that far."""

from __future__ import annotations

import uuid

import pytest

from engine.errors import Unavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.ports import Backend, LogPosition
from engine.progress import LogProgress
from fanout.worker import next_positions
from tests.contract.helpers import drain, followed, new_ids, noop, posted


async def test_a_wait_ends_when_the_group_has_committed_past_the_targets(
    backend: Backend,
) -> None:
    authors = new_ids(6)
    outcomes = [await backend.log.append(posted(a)) for a in authors]  # a record each
    positions = [p for p in outcomes if isinstance(p, LogPosition)]
    assert len(positions) == len(authors)
    progress = LogProgress(backend)
    group = f"g-{uuid.uuid4().hex[:8]}"
    try:
        ends = await progress.ends(TWEETS_TOPIC)
        assert sum(ends.values()) == len(authors)
        assert {tp[0] for tp in ends} == {TWEETS_TOPIC}
        with pytest.raises(Unavailable) as lagging:
            await progress.wait_applied({group: ends}, timeout_s=0.2)
        assert lagging.value.code == "projection_lagging"
        async with backend.consumer(group, [TWEETS_TOPIC], noop) as consumer:
            records = await drain(consumer, len(authors))
            first = records[0]
            await consumer.commit(next_positions([first]))
            one = {(first.topic, first.partition): first.offset + 1}
            await progress.wait_applied({group: one}, timeout_s=5)
            with pytest.raises(Unavailable):
                await progress.wait_applied({group: ends}, timeout_s=0.2)
            await consumer.commit(next_positions(records))
            await progress.wait_applied({group: ends}, timeout_s=5)
        assert await progress.committed(group) == {tp: n for tp, n in ends.items() if n}
        await progress.wait_applied({"nobody": {}, group: {}}, timeout_s=0)
    finally:
        await progress.stop()
        await progress.stop()


async def test_ends_are_taken_per_topic(backend: Backend) -> None:
    a, b = new_ids(2)
    await backend.log.append_many([followed(a, b), followed(b, a), posted(a)])
    progress = LogProgress(backend)
    try:
        assert sum((await progress.ends(GRAPH_TOPIC)).values()) == 2
        assert sum((await progress.ends(TWEETS_TOPIC)).values()) == 1
    finally:
        await progress.stop()
