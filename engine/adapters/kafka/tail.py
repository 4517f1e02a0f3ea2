"""A group-less reader of Kafka topics, and the committed offsets of other groups.

The reader is an AIOKafkaConsumer without a group id, assigned every partition by hand: it
never joins a group, so it moves no consumer group's partitions and commits nothing. What a
group has committed is asked of the group's coordinator with an OffsetFetch (the admin
client), which neither joins the group nor disturbs its members.

End offsets are asked by a second group-less consumer that never fetches. A broker answers
a connection's requests in order, and the reader's fetch of an idle topic waits on the
broker for new records (fetch.max.wait.ms, 500 ms): an end-offsets request sent behind it on
the same connection waited for it, so every caller that asks where the log ends (the fan-out's
follower index before each batch, consistency-token and follow-up waits) lost up to half a
second each time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from engine.config import Settings
from engine.errors import LogUnavailable
from engine.ports import LogRecord, LogTail

Positions = dict[tuple[str, int], int]


class KafkaTail(LogTail):
    """Reads every partition of the topics from their end; no group, no commits."""

    def __init__(self, settings: Settings, topics: Sequence[str]) -> None:
        self.settings = settings
        self.topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # asks end offsets, never fetches
        self._admin: AIOKafkaAdminClient | None = None
        self._coordinators: dict[str, int] = {}

    async def start(self) -> None:
        if self._consumer is not None:
            return
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )  # Kafka's fetch wait: a tail hands its records on at once, so no partition's
        # records wait to be consumed while a fetch of the others is held (FETCH_MAX_WAIT_MS)
        offsets = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None)
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
        try:
            await consumer.start()
            await offsets.start()
            await admin.start()
            partitions = await self._partitions(admin)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
        except (KafkaError, LogUnavailable) as e:
            await consumer.stop()
            await offsets.stop()
            await admin.close()
            raise LogUnavailable(f"cannot read the log at {s.kafka_bootstrap}: {e}") from e
        self._consumer, self._offsets, self._admin = consumer, offsets, admin

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        offsets, self._offsets = self._offsets, None
        admin, self._admin = self._admin, None
        if consumer is not None:
            await consumer.stop()
        if offsets is not None:
            await offsets.stop()
        if admin is not None:
            await admin.close()

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise LogUnavailable("the log tail is not started")
        return self._consumer

    async def _partitions(self, admin: AIOKafkaAdminClient) -> list[TopicPartition]:
        """Every partition of the topics, once the metadata has them all (a new topic takes a
        moment to elect its leaders)."""
        prefix = self.settings.kafka_topic_prefix
        names = [prefix + t for t in self.topics]
        deadline = time.monotonic() + self.settings.kafka_request_timeout_ms / 1000
        while True:
            found = {
                d["topic"]: sorted(p["partition"] for p in d["partitions"])
                for d in await admin.describe_topics(names)
                if d["error_code"] == 0
            }
            if all(found.get(n) for n in names) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        missing = [n for n in names if not found.get(n)]
        if missing:
            raise LogUnavailable(f"the log has no partitions for {missing}")
        return [TopicPartition(n, p) for n in names for p in found[n]]

    def _tp(self, topic: str, partition: int) -> TopicPartition:
        return TopicPartition(self.settings.kafka_topic_prefix + topic, partition)

    def _key(self, tp: TopicPartition) -> tuple[str, int]:
        return tp.topic[len(self.settings.kafka_topic_prefix) :], tp.partition

    async def seek(self, positions: Positions) -> None:
        consumer = self._require()
        for (topic, partition), offset in positions.items():
            consumer.seek(self._tp(topic, partition), offset)

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        try:
            batches = await self._require().getmany(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as e:
            raise LogUnavailable(f"cannot read the log: {e}") from e
        return [
            LogRecord(*self._key(tp), m.offset, m.value or b"")
            for tp, messages in batches.items()
            for m in messages
        ]

    async def end_offsets(self) -> Positions:
        consumer = self._require()
        assert self._offsets is not None
        try:
            ends = await self._offsets.end_offsets(list(consumer.assignment()))
        except KafkaError as e:
            raise LogUnavailable(f"cannot read the log's end offsets: {e}") from e
        return {self._key(tp): offset for tp, offset in ends.items()}

    async def committed(self, group: str) -> Positions:
        admin = self._admin
        if admin is None:
            raise LogUnavailable("the log tail is not started")
        try:
            coordinator = self._coordinators.get(group)
            if coordinator is None:
                coordinator = self._coordinators[group] = await admin.find_coordinator(group)
            offsets = await admin.list_consumer_group_offsets(group, coordinator)
        except KafkaError as e:
            self._coordinators.pop(group, None)  # it may have moved to another broker
            raise LogUnavailable(f"cannot read the offsets of group {group}: {e}") from e
        prefix = self.settings.kafka_topic_prefix
        wanted = {prefix + t for t in self.topics}
        return {
            self._key(tp): meta.offset
            for tp, meta in offsets.items()
            if tp.topic in wanted and meta.offset >= 0
        }
