"""The embedded event log: Kafka's topics, partitions, offsets and consumer groups in SQLite.

An event goes to partition murmur2(key) % partitions, exactly as Kafka's default partitioner
puts it, so the two backends agree on where every event lives (and the follow counts kept per
log partition mean the same thing on both). Offsets count from 0 in each partition and are
assigned inside the appending transaction, so they stay dense even with several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka.partitioner import murmur2

from engine.adapters.embedded.sqlite import SqliteDb
from engine.adapters.kafka.log import TOPICS, key_bytes
from engine.config import Settings
from engine.errors import LogUnavailable
from engine.events import DEAD_LETTER_TOPIC, Event, dead_letter_value, encode
from engine.metrics import Metrics
from engine.ports import EventLog, LogConsumer, LogPosition, LogRecord, RevokeHook

TopicPartition = tuple[str, int]
Position = tuple[str, int, int]
Row = tuple[str, int, bytes]
WRITE_PROBE = ".write-probe"
_END = (
    "SELECT log_offset FROM records WHERE topic = ? AND part = ? ORDER BY log_offset DESC LIMIT 1"
)
_FETCH = (
    "SELECT log_offset, value FROM records WHERE topic = ? AND part = ? AND log_offset >= ? "
    "ORDER BY log_offset LIMIT ?"
)


@functools.lru_cache(maxsize=1 << 16)
def partition_for(key: int, partitions: int) -> int:
    """Kafka's default partitioner: murmur2 of the key bytes, made positive, modulo partitions."""
    return (int(murmur2(key_bytes(key))) & 0x7FFFFFFF) % partitions


def can_write(folder: Path, min_free_bytes: int) -> bool:
    """True when the folder has min_free_bytes free and takes a small write made durable."""
    try:
        if shutil.disk_usage(folder).free < min_free_bytes:
            return False
        with (folder / WRITE_PROBE).open("wb") as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        return False
    return True


class EmbeddedLog(EventLog):
    """Appends events to the log file; an append returns once its transaction is on disk."""

    def __init__(self, settings: Settings, metrics: Metrics, db: SqliteDb) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.partitions: dict[str, int] = {}
        self._open = False
        self._appended = asyncio.Event()
        self._members: set[str] = set()
        self._appender = _Appender(db)

    async def start(self) -> None:
        if self._open:
            return
        await self.db.start()
        await self.ensure_topics()
        self._open = True

    async def stop(self) -> None:
        self._open = False
        await self._appender.drain()

    async def ensure_topics(self) -> None:
        wanted = {topic: self.settings.kafka_partitions for topic in TOPICS}
        self.partitions = await self.db.write("ensure_topics", lambda c: _ensure(c, wanted))

    async def append_many(self, events: Sequence[Event]) -> list[LogPosition | BaseException]:
        try:
            positions = await self.append_positions(events)
        except LogUnavailable as e:
            self.metrics.append_errors.labels(type(e.__cause__ or e).__name__).inc(len(events))
            return [e for _ in events]
        return [LogPosition(*p) for p in positions]

    async def append_positions(self, events: Sequence[Event]) -> list[Position]:
        """Append events in one transaction; (topic, partition, offset) of each, once on disk."""
        rows = [(e.topic, self.partition(e), encode(e)) for e in events]
        started = time.perf_counter()
        positions = await self._write(rows)
        self.metrics.append_seconds.observe(time.perf_counter() - started)
        for e in events:
            self.metrics.events_appended.labels(e.type_name).inc()
        return positions

    async def dead_letter(self, record: LogRecord, group: str, reason: str) -> None:
        value = dead_letter_value(
            record.topic, record.partition, record.offset, group, reason, record.value
        )
        count = self.partitions.get(DEAD_LETTER_TOPIC, self.settings.kafka_partitions)
        await self._write([(DEAD_LETTER_TOPIC, record.partition % count, value)])

    async def _write(self, rows: list[Row]) -> list[Position]:
        if not self._open:
            raise LogUnavailable("the embedded log is not started")
        positions = await self._appender.write(rows)
        self._wake()
        return positions

    def partition(self, event: Event) -> int:
        """The partition an event goes to."""
        count = self.partitions.get(event.topic, self.settings.kafka_partitions)
        return partition_for(event.key, count)

    async def ping(self) -> bool:
        return self._open and await self.db.ping()

    async def writable(self) -> bool:
        """Free space above TIMELINE_LOG_MIN_FREE_BYTES, and a small write and fsync succeed."""
        if not self._open:
            return False
        root, need = Path(self.settings.data_dir), self.settings.log_min_free_bytes
        return await asyncio.to_thread(can_write, root, need)

    def appended(self) -> asyncio.Event:
        """An event set at the next append in this process."""
        return self._appended

    def assignment(self, topics: Sequence[str]) -> list[TopicPartition]:
        """Every partition of the topics."""
        count = self.settings.kafka_partitions
        return [(t, p) for t in topics for p in range(self.partitions.get(t, count))]

    def join(self, group: str) -> None:
        """Admit the one member of a group this process may have."""
        if group in self._members:
            raise LogUnavailable(f"group {group!r} already has a member in this process")
        self._members.add(group)

    def leave(self, group: str) -> None:
        """Let a group's member go."""
        self._members.discard(group)

    def _wake(self) -> None:
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()


class _Appender:
    """Joins the appends made while a transaction commits into the next one (Kafka's linger)."""

    def __init__(self, db: SqliteDb) -> None:
        self.db = db
        self._pending: list[tuple[list[Row], asyncio.Future[list[Position]]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, rows: list[Row]) -> list[Position]:
        """Append rows in the next transaction; their positions once it committed."""
        future: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait for the appends already made."""
        if self._flushing is not None:
            await self._flushing

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [row for chunk, _ in batch for row in chunk]
            try:
                positions = await self.db.write("append", functools.partial(_insert, rows=rows))
            except Exception as e:
                _settle(batch, e)
            else:
                _settle(batch, positions)


def _settle(
    batch: list[tuple[list[Row], asyncio.Future[list[Position]]]],
    outcome: list[Position] | Exception,
) -> None:
    start = 0
    for chunk, future in batch:
        if future.done():
            pass  # the caller gave up waiting
        elif isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[start : start + len(chunk)])
        start += len(chunk)


def _ensure(conn: sqlite3.Connection, wanted: dict[str, int]) -> dict[str, int]:
    conn.executemany(
        "INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)", wanted.items()
    )
    return dict(conn.execute("SELECT name, partitions FROM topics").fetchall())


def end_offset(conn: sqlite3.Connection, topic: str, part: int) -> int:
    """The offset the next record of this topic partition gets (0 while it is empty)."""
    row = conn.execute(_END, (topic, part)).fetchone()
    return 0 if row is None else int(row[0]) + 1


def _insert(conn: sqlite3.Connection, rows: list[Row]) -> list[Position]:
    ends: dict[TopicPartition, int] = {}
    params = []
    for topic, part, value in rows:
        offset = ends.get((topic, part))
        if offset is None:
            offset = end_offset(conn, topic, part)
        ends[(topic, part)] = offset + 1
        params.append((topic, part, offset, value))
    conn.executemany(
        "INSERT INTO records (topic, part, log_offset, value) VALUES (?, ?, ?, ?)", params
    )
    return [(topic, part, offset) for topic, part, offset, _ in params]


def committed_offsets(conn: sqlite3.Connection, group: str) -> dict[TopicPartition, int]:
    """The next offset this consumer group reads, per topic partition it has committed."""
    rows = conn.execute(
        "SELECT topic, part, next_offset FROM group_offsets WHERE group_id = ?", (group,)
    ).fetchall()
    return {(topic, part): offset for topic, part, offset in rows}


def _commit(conn: sqlite3.Connection, rows: list[tuple[str, str, int, int]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO group_offsets (group_id, topic, part, next_offset) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )


def _fetch(
    conn: sqlite3.Connection, positions: list[tuple[TopicPartition, int]], limit: int
) -> list[LogRecord]:
    records: list[LogRecord] = []
    for (topic, part), start in positions:
        if len(records) >= limit:
            break
        rows = conn.execute(_FETCH, (topic, part, start, limit - len(records))).fetchall()
        records.extend(LogRecord(topic, part, offset, value) for offset, value in rows)
    return records


def _lag(
    conn: sqlite3.Connection, group: str, assigned: list[TopicPartition]
) -> dict[TopicPartition, int]:
    committed = committed_offsets(conn, group)
    return {tp: max(0, end_offset(conn, *tp) - committed.get(tp, 0)) for tp in assigned}


class PositionedReader:
    """Polls partitions of the embedded log from positions it keeps, in turn so none starves.

    An append in this process wakes a waiting poll at once; `wait_cap_s` bounds each wait so
    that appends made by another process on the same folder are found by reading again.
    """

    log: EmbeddedLog
    read_op = "poll"
    wait_cap_s: float | None = None
    _turn = 0

    def _require(self) -> dict[TopicPartition, int]:
        raise NotImplementedError

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            appended = self.log.appended()
            records = await self._fetch(max_records)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            wait = remaining if self.wait_cap_s is None else min(remaining, self.wait_cap_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await appended.wait()

    async def _fetch(self, max_records: int) -> list[LogRecord]:
        positions = list(self._require().items())
        if not positions:
            return []
        self._turn = (self._turn + 1) % len(positions)
        order = positions[self._turn :] + positions[: self._turn]
        records = await self.log.db.read(self.read_op, lambda c: _fetch(c, order, max_records))
        current = self._require()
        for r in records:
            current[(r.topic, r.partition)] = r.offset + 1
        return records


class EmbeddedConsumer(PositionedReader, LogConsumer):
    """The one member of a consumer group in this process: it owns every partition."""

    def __init__(
        self, log: EmbeddedLog, group: str, topics: Sequence[str], on_revoke: RevokeHook
    ) -> None:
        self.log = log
        self.group = group
        self.topics = tuple(topics)
        self.on_revoke = on_revoke  # never called: a lone member's partitions never move
        self._positions: dict[TopicPartition, int] | None = None

    async def start(self) -> None:
        if self._positions is not None:
            return
        self.log.join(self.group)
        try:
            committed = await self.log.db.read(
                "committed", lambda c: committed_offsets(c, self.group)
            )
        except LogUnavailable:
            self.log.leave(self.group)
            raise
        self._positions = {tp: committed.get(tp, 0) for tp in self.log.assignment(self.topics)}

    async def stop(self) -> None:
        if self._positions is not None:
            self._positions = None
            self.log.leave(self.group)

    def _require(self) -> dict[TopicPartition, int]:
        if self._positions is None:
            raise LogUnavailable("the consumer is not started")
        return self._positions

    async def commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._require()
        rows = [(self.group, t, p, offset) for (t, p), offset in positions.items()]
        await self.log.db.write("commit", lambda c: _commit(c, rows))

    async def lag(self) -> dict[tuple[str, int], int]:
        assigned = list(self._require())
        return await self.log.db.read("lag", lambda c: _lag(c, self.group, assigned))

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        assigned = list(self._require())
        return await self.log.db.read(
            "end_offsets", lambda c: {tp: end_offset(c, *tp) for tp in assigned}
        )
