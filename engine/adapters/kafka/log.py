"""Kafka adapters: the event log (idempotent producer, acks=all) and consumer-group members."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from engine.config import Settings
from engine.errors import LogUnavailable
from engine.events import (
    ALL_TOPICS,
    DEAD_LETTER_TOPIC,
    Event,
    TweetPosted,
    dead_letter_value,
    encode,
    encode_pack,
)
from engine.metrics import Metrics
from engine.ports import EventLog, LogConsumer, LogPosition, LogRecord

log = logging.getLogger(__name__)
TOPICS = ALL_TOPICS
RevokeHook = Callable[[], Awaitable[None]]


def key_bytes(key: int) -> bytes:
    """The partition key of an event as bytes: the id in 8 bytes, big-endian."""
    return key.to_bytes(8, "big", signed=True)


class KeyPartitioner:
    """The Java client's default partitioner for keyed records (murmur2 of the key), its
    answers remembered: aiokafka's murmur2 is pure Python, ~6 us a record, and an event's key
    (its author, its user) recurs. Keys are 8 bytes; HASHES_KEPT of them is ~1.5 MB."""

    HASHES_KEPT = 16_384

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # never sent by the engine: aiokafka's own rule
            return int(DEFAULT_PARTITIONER(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.HASHES_KEPT:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


DEFAULT_PARTITIONER = DefaultPartitioner()
# Posts appended together (a batch) go as packs of at most this many per partition: a tweet's
# envelope is at most ~1.5 KB (140 characters of up to 4 bytes, its entities, its ids), so a
# pack stays under the producer's 256 KiB batch and Kafka's 1 MiB message.
PACK_MAX_EVENTS = 128


@dataclass(slots=True)
class _Record:
    """One record of an append: the indices of the events it carries (one, or a pack's)."""

    topic: str
    partition: int | None
    key: bytes
    events: list[int]


class KafkaLog(EventLog):
    """Appends events with an idempotent producer; an append returns once every ISR acked it."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._producer: AIOKafkaProducer | None = None
        self._last_append_ok = True
        self._appended: dict[str, Any] = {}  # events_appended by event type
        self._partitioner = KeyPartitioner()

    async def start(self) -> None:
        if self._producer is not None:
            return
        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=s.kafka_linger_ms,
            request_timeout_ms=s.kafka_request_timeout_ms,
            max_batch_size=256 * 1024,
            partitioner=self._partitioner,
        )
        try:
            await producer.start()
        except KafkaError as e:
            await producer.stop()
            raise LogUnavailable(f"cannot reach Kafka at {s.kafka_bootstrap}: {e}") from e
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def ensure_topics(self) -> None:
        s = self.settings
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            prefix = s.kafka_topic_prefix
            configs = {"retention.ms": str(s.kafka_retention_ms)}
            if s.kafka_replication_factor > 1:
                configs["min.insync.replicas"] = str(min(2, s.kafka_replication_factor))
            wanted = [
                NewTopic(
                    name, s.kafka_partitions, s.kafka_replication_factor, topic_configs=configs
                )
                for name in (prefix + t for t in TOPICS)
                if name not in existing
            ]
            if wanted:
                await _create_topics(admin, wanted)
        finally:
            await admin.close()

    async def append(self, event: Event) -> LogPosition:
        """append_many() of one event, without its gathering: a single post's path."""
        producer = self._producer
        if producer is None:
            raise LogUnavailable("the log producer is not started")
        started = time.perf_counter()
        prefix = self.settings.kafka_topic_prefix
        ack: asyncio.Future[Any] | BaseException | None = None
        try:
            async with asyncio.timeout(self.settings.kafka_request_timeout_ms / 1000 + 1):
                sent = ack = await producer.send(
                    prefix + event.topic, encode(event), key=key_bytes(event.key)
                )
                with contextlib.suppress(Exception):  # _outcome reads the ack's error
                    await sent
        except TimeoutError:
            pass  # an ack not done (or cancelled) by the deadline is a timeout in _outcome
        except KafkaError as e:
            ack = e
        self.metrics.append_seconds.observe(time.perf_counter() - started)
        outcome = _timed_out() if ack is None else _outcome(ack, len(prefix))
        if isinstance(outcome, BaseException):
            self._account((event,), [outcome])
            raise outcome
        self._count_appended(event.type_name, 1)
        self._last_append_ok = True
        return outcome

    async def append_many(self, events: Sequence[Event]) -> list[LogPosition | BaseException]:
        """Append events under one deadline: every record is handed to the producer (which
        fills one batch per partition, shared with concurrent appends), then the acks are
        awaited together. Posts bound for one partition go as packs (engine/events.py), one
        record for up to PACK_MAX_EVENTS of them; each event's outcome is its record's.

        The records are not handed over as record batches of their own (the producer's
        `send_batch`): the producer queues such a batch only once the partition's pending
        one has gone out, so concurrent appends of many events wait for each other a round
        trip per batch, and under load they run into the deadline."""
        producer = self._producer
        if producer is None:
            return [LogUnavailable("the log producer is not started") for _ in events]
        started = time.perf_counter()
        prefix = self.settings.kafka_topic_prefix
        results: list[LogPosition | BaseException | None] = [None] * len(events)
        sent: list[tuple[_Record, asyncio.Future[Any] | BaseException]] = []
        try:
            async with asyncio.timeout(self.settings.kafka_request_timeout_ms / 1000 + 1):
                for record in await self._records(producer, events):
                    if len(record.events) == 1:
                        value = encode(events[record.events[0]])
                    else:
                        value = encode_pack([events[i] for i in record.events])
                    try:
                        ack: asyncio.Future[Any] | BaseException = await producer.send(
                            prefix + record.topic,
                            value,
                            key=record.key,
                            partition=record.partition,
                        )
                    except KafkaError as e:
                        ack = e
                    sent.append((record, ack))
                await asyncio.gather(
                    *(a for _, a in sent if isinstance(a, asyncio.Future)), return_exceptions=True
                )
        except TimeoutError:
            pass  # what was not acknowledged by the deadline is reported below
        self.metrics.append_seconds.observe(time.perf_counter() - started)
        cut = len(prefix)
        appended: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        for record, ack in sent:  # counted by record: a pack's events share its outcome
            outcome = _outcome(ack, cut)
            for i in record.events:
                results[i] = outcome
            if isinstance(outcome, BaseException):
                failed[_error_name(outcome)] += len(record.events)
            else:
                appended[events[record.events[0]].type_name] += len(record.events)
        unsent = results.count(None)
        if unsent:
            timed_out = _timed_out()
            failed[_error_name(timed_out)] += unsent
            results = [timed_out if r is None else r for r in results]
        self._tally(appended, failed)
        if results:
            self._last_append_ok = not isinstance(results[-1], BaseException)
        return cast(list[LogPosition | BaseException], results)  # no None is left

    async def _records(self, producer: AIOKafkaProducer, events: Sequence[Event]) -> list[_Record]:
        """The records that carry these events, in the order of their first event: posts
        packed by partition when the events are all posts, else one record each."""
        if len(events) < 2 or any(type(e) is not TweetPosted for e in events):
            return [_Record(e.topic, None, key_bytes(e.key), [i]) for i, e in enumerate(events)]
        topic = events[0].topic
        partitions = sorted(await producer.partitions_for(self.settings.kafka_topic_prefix + topic))
        records: list[_Record] = []
        open_packs: dict[int, _Record] = {}
        for i, event in enumerate(events):
            key = key_bytes(event.key)
            partition = self._partitioner(key, partitions, partitions)
            pack = open_packs.get(partition)
            if pack is None or len(pack.events) >= PACK_MAX_EVENTS:
                pack = open_packs[partition] = _Record(topic, partition, key, [])
                records.append(pack)
            pack.events.append(i)
        return records

    def _account(
        self, events: Sequence[Event], results: list[LogPosition | BaseException | None]
    ) -> list[LogPosition | BaseException]:
        """Each event's outcome (a timeout for one that got none), counted by event type or
        by error; the last one decides whether the log is taken to be writable."""
        appended: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        outcomes: list[LogPosition | BaseException] = []
        for event, result in zip(events, results, strict=True):
            if result is None:
                result = _timed_out()
            if isinstance(result, BaseException):
                failed[_error_name(result)] += 1
            else:
                appended[event.type_name] += 1
            outcomes.append(result)
        self._tally(appended, failed)
        if outcomes:
            self._last_append_ok = not isinstance(outcomes[-1], BaseException)
        return outcomes

    def _tally(self, appended: Counter[str], failed: Counter[str]) -> None:
        """Count appended events by type and failed ones by error."""
        for type_name, n in appended.items():
            self._count_appended(type_name, n)
        for error, n in failed.items():
            self.metrics.append_errors.labels(error).inc(n)

    def _count_appended(self, type_name: str, n: int) -> None:
        counter = self._appended.get(type_name)
        if counter is None:  # looking a child up costs more than counting in it
            counter = self._appended[type_name] = self.metrics.events_appended.labels(type_name)
        counter.inc(n)

    async def dead_letter(self, record: LogRecord, group: str, reason: str) -> None:
        producer = self._producer
        if producer is None:
            raise LogUnavailable("the log producer is not started")
        value = dead_letter_value(
            record.topic, record.partition, record.offset, group, reason, record.value
        )
        topic = self.settings.kafka_topic_prefix + DEAD_LETTER_TOPIC
        try:
            await (await producer.send(topic, value))
        except KafkaError as e:
            raise LogUnavailable(f"Kafka did not take the dead letter: {e!r}") from e

    async def ping(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(2):
                await producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError):
            return False
        return True

    async def writable(self) -> bool:
        """The producer runs and the last append was acknowledged (or none was tried)."""
        return self._producer is not None and self._last_append_ok


def _error_name(error: BaseException) -> str:
    """The label an append error is counted under: its cause's type, else its own."""
    return type(error.__cause__ or error).__name__


def _timed_out() -> LogUnavailable:
    return LogUnavailable("Kafka did not acknowledge the append in time")


def _outcome(ack: asyncio.Future[Any] | BaseException, cut: int) -> LogPosition | LogUnavailable:
    """Where an acknowledged record lies (its topic without the prefix), else why not."""
    if isinstance(ack, BaseException):
        return _unavailable(ack)
    if not ack.done() or ack.cancelled():
        return _timed_out()
    error = ack.exception()
    if error is not None:
        return _unavailable(error)
    meta = ack.result()
    return LogPosition(meta.topic[cut:], meta.partition, meta.offset)


def _unavailable(error: BaseException) -> LogUnavailable:
    unavailable = LogUnavailable(f"Kafka did not acknowledge the append: {error!r}")
    unavailable.__cause__ = error
    return unavailable


async def _create_topics(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    try:
        response = await admin.create_topics(topics)
    except TopicAlreadyExistsError:
        return
    for name, code, *_ in getattr(response, "topic_errors", []):
        if code not in (0, TopicAlreadyExistsError.errno):
            raise LogUnavailable(f"cannot create topic {name}: error code {code}")
    log.info("created topics %s", [t.name for t in topics])


GATHER_BYTES = 1 << 20  # about 3,000 tweets: a gathering fetch waits for time, not size
FETCH_MAX_WAIT_MS = 50
"""How long the broker may hold a fetch that finds nothing new (fetch.max.wait.ms; Kafka's
default is 500) for a consumer that does not gather. aiokafka keeps one fetch in flight per
broker and, while a partition's records wait to be consumed, fetches the others alone: a
fetch of idle partitions (the graph topic beside a busy tweets topic) was held 500 ms and
kept the busy partitions from being fetched meanwhile, so at 250 tweets/s the fan-out took
alternately ~20 and ~165 records, and publish-to-visible p99 was 1.07 s. Measured with
one topic busy and one idle and a consumer applying each batch for 95 ms + 1.7 ms a record:
receive p99 674 ms with the default, 319 ms at 50 ms. The price is paid while idle: a group
member with nothing to read asks 20 times a second, about 1.8% of a core against 0.3% at
500 ms. Tails (engine/adapters/kafka/tail.py) hand their records on at once, so they keep
Kafka's default."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoke: RevokeHook) -> None:
        self.on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: object) -> None:
        await self.on_revoke()

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class KafkaConsumer(LogConsumer):
    """One member of a consumer group; offsets are committed only by commit()."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        topics: Sequence[str],
        on_revoke: RevokeHook,
        gather_ms: int = 0,
    ) -> None:
        self.settings = settings
        self.group = group
        self.gather_ms = gather_ms
        self.topics = tuple(topics)
        self.on_revoke = on_revoke
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **self._fetch_options(),
        )
        prefix = self.settings.kafka_topic_prefix
        consumer.subscribe([prefix + t for t in self.topics], listener=_Listener(self.on_revoke))
        try:
            await consumer.start()
        except KafkaError as e:
            await consumer.stop()
            raise LogUnavailable(f"cannot join group {self.group}: {e}") from e
        self._consumer = consumer

    def _fetch_options(self) -> dict[str, int]:
        """To gather: the broker holds a fetch until GATHER_BYTES are there or gather_ms
        passed (fetch.min.bytes, fetch.max.wait.ms); a backlog still comes at once. Not to
        gather: fetches held at most FETCH_MAX_WAIT_MS."""
        if self.gather_ms <= 0:
            return {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS}
        return {"fetch_min_bytes": GATHER_BYTES, "fetch_max_wait_ms": self.gather_ms}

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise LogUnavailable("the consumer is not started")
        return self._consumer

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        batches = await self._require().getmany(timeout_ms=timeout_ms, max_records=max_records)
        cut = len(self.settings.kafka_topic_prefix)
        return [
            LogRecord(tp.topic[cut:], tp.partition, m.offset, m.value or b"")
            for tp, messages in batches.items()
            for m in messages
        ]

    async def commit(self, positions: dict[tuple[str, int], int]) -> None:
        prefix = self.settings.kafka_topic_prefix
        offsets = {TopicPartition(prefix + t, p): off for (t, p), off in positions.items()}
        try:
            await self._require().commit(offsets)
        except CommitFailedError as e:
            # The partitions moved to another member, which re-reads from the last commit;
            # every write is an idempotent upsert, so the replay changes nothing.
            log.warning("commit failed after a rebalance in group %s: %s", self.group, e)

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        consumer = self._require()
        prefix = self.settings.kafka_topic_prefix
        await consumer.topics()  # refreshes metadata
        partitions = [
            TopicPartition(prefix + t, p)
            for t in self.topics
            for p in sorted(consumer.partitions_for_topic(prefix + t) or ())
        ]
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic[len(prefix) :], tp.partition): off for tp, off in ends.items()}

    async def lag(self) -> dict[tuple[str, int], int]:
        consumer = self._require()
        lags = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            committed = await consumer.committed(tp)
            if high is not None:
                topic = tp.topic[len(self.settings.kafka_topic_prefix) :]
                lags[(topic, tp.partition)] = max(0, high - (committed or 0))
        return lags
