"""A record no consumer can read goes to the dead-letter topic; consumption goes on."""

from __future__ import annotations

import msgpack
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.events import DEAD_LETTER_TOPIC, TWEETS_TOPIC
from tests.support import Api, eventually


async def test_poison_events_are_set_aside_and_consumption_goes_on(api: Api, engine) -> None:
    s = engine.settings
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(s.kafka_topic_prefix + TWEETS_TOPIC, b"\xc1not msgpack")
        future = msgpack.packb(
            {"v": 1, "type": "tweet_posted", "sv": 99, "id": 1, "ts": 1, "d": {}}
        )
        await producer.send_and_wait(s.kafka_topic_prefix + TWEETS_TOPIC, future)
    finally:
        await producer.stop()
    author, reader = await api.user(), await api.user()
    await api.follow(reader, author)
    tweet = await api.tweet(author, "after the poison")
    await api.wait_home(reader, [tweet["id"]])

    letters = await _dead_letters(s.kafka_bootstrap, s.kafka_topic_prefix + DEAD_LETTER_TOPIC)
    reasons = {(d["group"], d["reason"].split(":")[0]) for d in letters}
    fanout = s.consumer_group_prefix + "fanout"
    assert (fanout, "undecodable event") in reasons
    assert any(
        g == fanout and "unknown event 'tweet_posted' v99" in r
        for g, r in ((d["group"], d["reason"]) for d in letters)
    )
    assert {d["value"] for d in letters} >= {b"\xc1not msgpack"}
    text = engine.metrics.exposition().decode()
    assert f'timeline_poison_events_total{{group="{fanout}"}} 2.0' in text


async def _dead_letters(bootstrap: str, topic: str) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        found: list[dict] = []

        async def more() -> list[dict]:
            batch = await consumer.getmany(timeout_ms=500)
            found.extend(msgpack.unpackb(m.value) for ms in batch.values() for m in ms)
            return found

        return await eventually(more, lambda f: len(f) >= 2)
    finally:
        await consumer.stop()
