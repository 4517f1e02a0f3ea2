"""A record no consumer can read goes to the dead-letter topic; consumption goes on."""

from __future__ import annotations

import msgpack

from engine.events import DEAD_LETTER_TOPIC, TWEETS_TOPIC
from engine.ports import LogRecord
from tests.support import Api, append_raw, eventually

GARBAGE = b"\xc1not msgpack"
FUTURE = msgpack.packb({"v": 1, "type": "tweet_posted", "sv": 99, "id": 1, "ts": 1, "d": {}})


async def test_poison_events_are_set_aside_and_consumption_goes_on(api: Api, engine) -> None:
    fanout = engine.settings.consumer_group_prefix + "fanout"
    before = _poison_count(engine, fanout)
    await append_raw(engine, TWEETS_TOPIC, GARBAGE)
    await append_raw(engine, TWEETS_TOPIC, FUTURE)
    author, reader = await api.user(), await api.user()
    await api.follow(reader, author)
    tweet = await api.tweet(author, "after the poison")
    await api.wait_home(reader, [tweet["id"]])

    letters = [msgpack.unpackb(r.value) for r in await _dead_letters(engine)]
    mine = [d for d in letters if d["group"] == fanout]
    assert {d["value"] for d in mine} >= {GARBAGE, FUTURE}
    reasons = [d["reason"] for d in mine]
    assert any(r.startswith("undecodable event") for r in reasons)
    assert any("unknown event 'tweet_posted' v99" in r for r in reasons)
    assert _poison_count(engine, fanout) - before == 2


def _poison_count(engine, group: str) -> float:
    value = engine.metrics.registry.get_sample_value(
        "timeline_poison_events_total", {"group": group}
    )
    return value or 0.0


async def _dead_letters(engine) -> list[LogRecord]:
    async def nothing() -> None:
        return None

    consumer = engine.backend.consumer("dead-letter-reader", [DEAD_LETTER_TOPIC], nothing)
    found: list[LogRecord] = []
    async with consumer:

        async def more() -> list[LogRecord]:
            found.extend(await consumer.poll(1000, 500))
            return found

        return await eventually(more, lambda f: len(f) >= 2)
