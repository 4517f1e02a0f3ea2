"""What the servers can do without the engine, measured in the same run on the same servers.

- raw aiokafka: an idempotent producer with acks=all (the engine's producer settings) sending
  records the size of an encoded tweet event, as fast as it can;
- Kafka's own ProducerPerformance (Java), same record size, acks=all, idempotent;
- raw cassandra-driver inserts of home_timeline-shaped rows, one row per statement,
  execute_async with high concurrency;
- raw single-partition reads of those rows (LIMIT 20): the most a client can do, and the
  latency at a fixed rate (open loop), alone and under a write load;
- the bare clients the engine's cost per unit is compared with (bench/costs.py): ids-only
  home rows written in prepared unlogged per-partition batches, BARE_IN_FLIGHT at once
  (`RawCassandra.bare_fanout`), and reads of one real home timeline partition, LIMIT 20
  (`RawCassandra.page_reads`).
"""

from __future__ import annotations

import asyncio
import collections
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement, tuple_factory

from bench.stack import producer as bare_producer
from bench.stats import latency_summary
from bench.tweet_texts import corpus_texts, tweet_event
from deploy.local.settings import Settings as InfraSettings
from engine.adapters.cassandra.session import NO_DELAY
from engine.config import Settings
from engine.events import encode, pack_tweet
from engine.ids import IdGenerator

RAW_TABLE = "raw_home"
BARE_TABLE = "bare_home"  # ids-only home rows of the bare fan-out writer
BARE_IN_FLIGHT = 64  # requests in flight of the bare writer and reader
PAGE = 20
KAFKA_WINDOW = 20_000  # sends in flight before the producer waits for the oldest ack
CASSANDRA_CONCURRENCY = 256
PERF_LINE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th"
)


def sample_events(count: int) -> list[bytes]:
    """Encoded tweet events over the seed texts: the records the tweets topic carries."""
    ids, texts = IdGenerator(1022), corpus_texts()
    return [
        encode(tweet_event(ids.next_id(), ids.next_id(), f"u{i}", texts[i % len(texts)]))
        for i in range(count)
    ]


async def create_topic(settings: Settings, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics(
                [NewTopic(name, settings.kafka_partitions, settings.kafka_replication_factor)]
            )
    finally:
        await admin.close()


async def raw_aiokafka(settings: Settings, records: int) -> dict[str, Any]:
    """Records/s of a bare idempotent acks=all aiokafka producer with the engine's settings."""
    topic = settings.kafka_topic_prefix + "baseline-aiokafka"
    await create_topic(settings, topic)
    values = sample_events(1000)
    producer = bare_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, values[0], key=b"warm")  # the topic's metadata
        window: collections.deque[asyncio.Future[Any]] = collections.deque()
        started = time.perf_counter()
        for i in range(records):
            key = i.to_bytes(8, "big")
            window.append(await producer.send(topic, values[i % len(values)], key=key))
            if len(window) >= KAFKA_WINDOW:
                await window.popleft()
        await asyncio.gather(*window)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    size = statistics.mean(map(len, values))
    return {
        "records": records,
        "record_bytes": round(size, 1),
        "seconds": round(seconds, 3),
        "records_s": round(records / seconds, 1),
        "mb_s": round(records * size / seconds / 1e6, 3),
    }


def combined_raw(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """raw_aiokafka() over several rounds as one (records and seconds summed); each round's
    rate kept."""
    records = sum(r["records"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    size = rounds[0]["record_bytes"]
    return {
        "records": records,
        "record_bytes": size,
        "seconds": round(seconds, 3),
        "records_s": round(records / seconds, 1),
        "mb_s": round(records * size / seconds / 1e6, 3),
        "rounds_records_s": [r["records_s"] for r in rounds],
    }


async def producer_performance(settings: Settings, records: int, size: int) -> dict[str, Any]:
    """Kafka's own org.apache.kafka.tools.ProducerPerformance at the same record size."""
    topic = settings.kafka_topic_prefix + "baseline-java"
    await create_topic(settings, topic)
    jars = InfraSettings.from_env().jars("kafka")
    cmd = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{jars}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={settings.kafka_bootstrap}",
        "acks=all",
        "enable.idempotence=true",
        f"linger.ms={settings.kafka_linger_ms}",
    ]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True)
    match = PERF_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"ProducerPerformance failed: {done.stdout[-500:]}{done.stderr[-2000:]}")
    sent, rate, mb, avg, worst, p50, _p95, p99 = match.groups()
    return {
        "records": int(sent),
        "record_bytes": size,
        "records_s": float(rate),
        "mb_s": float(mb),
        "avg_latency_ms": float(avg),
        "p50_latency_ms": float(p50),
        "p99_latency_ms": float(p99),
        "max_latency_ms": float(worst),
        "command": " ".join(cmd[:4]) + " ... " + " ".join(cmd[4:]),
    }


class RawCassandra:
    """A bare cassandra-driver session with the engine's profile (LOCAL_QUORUM, token aware)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keyspace = settings.cassandra_keyspace
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            request_timeout=settings.cassandra_request_timeout_s,
            row_factory=tuple_factory,
        )
        self.cluster = Cluster(
            list(settings.cassandra_hosts),
            port=settings.cassandra_port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            protocol_version=5,
            sockopts=NO_DELAY,  # as a careful client sets it (the Java driver's default)
        )
        self.session: Session = self.cluster.connect()
        self.session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.{RAW_TABLE} ("
            "user_id bigint, tweet_id bigint, author_id bigint, body blob, "
            "PRIMARY KEY (user_id, tweet_id)) WITH CLUSTERING ORDER BY (tweet_id DESC) "
            "AND compaction = {'class': 'LeveledCompactionStrategy'} AND gc_grace_seconds = 86400"
        )
        self.insert = self.session.prepare(
            f"INSERT INTO {self.keyspace}.{RAW_TABLE} (user_id, tweet_id, author_id, body) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        )
        self.select = self.session.prepare(
            f"SELECT body FROM {self.keyspace}.{RAW_TABLE} "
            "WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT 20"
        )
        ids = IdGenerator(1021)
        texts = corpus_texts()
        self.bodies = [pack_tweet(tweet_event(ids.next_id(), 1, "u1", t).tweet) for t in texts]
        self.ids = ids

    def close(self) -> None:
        self.cluster.shutdown()

    def bare_fanout(
        self, groups: Sequence[tuple[int, Sequence[tuple[int, int]]]]
    ) -> dict[str, Any]:
        """Write ids-only home rows, one prepared unlogged batch per (partition, rows) group,
        BARE_IN_FLIGHT batches at once, into a table of its own (created here): the least a
        client can do to put these rows into Cassandra. Statements are bound as they are
        sent, so binding is part of the measured work."""
        self.session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.{BARE_TABLE} ("
            "user_id bigint, tweet_id bigint, author_id bigint, "
            "PRIMARY KEY (user_id, tweet_id)) WITH CLUSTERING ORDER BY (tweet_id DESC)"
        )
        insert = self.session.prepare(
            f"INSERT INTO {self.keyspace}.{BARE_TABLE} (user_id, tweet_id, author_id) "
            "VALUES (?, ?, ?)"
        )

        def batches() -> Iterator[tuple[BatchStatement, None]]:
            for user, rows in groups:
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for tweet, author in rows:
                    batch.add(insert, (user, tweet, author))
                yield batch, None

        started = time.perf_counter()
        results = execute_concurrent(
            self.session, batches(), concurrency=BARE_IN_FLIGHT, raise_on_first_error=False,
            results_generator=True,
        )  # fmt: skip
        failed = sum(1 for ok, _ in results if not ok)
        seconds = time.perf_counter() - started
        rows = sum(len(r) for _, r in groups)
        return {
            "table": BARE_TABLE,
            "rows": rows,
            "batches": len(groups),
            "failed_batches": failed,
            "concurrency": BARE_IN_FLIGHT,
            "seconds": round(seconds, 3),
            "rows_s": round(rows / seconds, 1),
        }

    def page_reads(self, users: Sequence[int], table: str = "home_timeline") -> dict[str, Any]:
        """One partition of `table` per user, LIMIT PAGE, BARE_IN_FLIGHT reads at once."""
        select = self.session.prepare(
            f"SELECT * FROM {self.keyspace}.{table} WHERE user_id = ? LIMIT {PAGE}"
        )
        started = time.perf_counter()
        results = execute_concurrent_with_args(
            self.session, select, [(u,) for u in users], concurrency=BARE_IN_FLIGHT,
            raise_on_first_error=False, results_generator=True,
        )  # fmt: skip
        rows = failed = 0
        for ok, result in results:
            if ok:
                rows += len(result.current_rows)
            else:
                failed += 1
        seconds = time.perf_counter() - started
        return {
            "table": table,
            "reads": len(users),
            "failed": failed,
            "mean_rows": round(rows / max(1, len(users) - failed), 2),
            "concurrency": BARE_IN_FLIGHT,
            "seconds": round(seconds, 3),
            "reads_s": round((len(users) - failed) / seconds, 1),
        }

    def flush(self, tables: Sequence[str]) -> None:
        """Ask Cassandra to flush these tables' memtables (without nodetool or JMX): a
        memtable flush period makes it schedule a flush; the caller waits for it, then
        calls `unflush`."""
        for t in tables:
            self.session.execute(
                f"ALTER TABLE {self.keyspace}.{t} WITH memtable_flush_period_in_ms = 1000"
            )

    def unflush(self, tables: Sequence[str]) -> None:
        for t in tables:
            self.session.execute(
                f"ALTER TABLE {self.keyspace}.{t} WITH memtable_flush_period_in_ms = 0"
            )

    def write_params(self, owners: np.ndarray, count: int, seed: int) -> list[tuple[Any, ...]]:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, owners.size, count)
        now = time.time_ns() // 1000
        return [
            (
                int(owners[p]),
                self.ids.next_id(),
                int(owners[p - 1]),
                self.bodies[i % len(self.bodies)],
                now,
            )
            for i, p in enumerate(picks)
        ]

    def writes(self, owners: np.ndarray, count: int) -> dict[str, Any]:
        """Rows/s of single-row inserts at CASSANDRA_CONCURRENCY statements in flight."""
        params = self.write_params(owners, count, 1)
        return self._concurrent(self.insert, params, "rows")

    def reads(self, owners: np.ndarray, count: int) -> dict[str, Any]:
        """Reads/s of single-partition pages (LIMIT 20) at CASSANDRA_CONCURRENCY in flight."""
        rng = np.random.default_rng(2)
        params = [(int(owners[p]), 2**63 - 1, -1) for p in rng.integers(0, owners.size, count)]
        return self._concurrent(self.select, params, "reads")

    def _concurrent(
        self, stmt: PreparedStatement, params: Sequence[tuple[Any, ...]], unit: str
    ) -> dict[str, Any]:
        started = time.perf_counter()
        results = execute_concurrent_with_args(
            self.session,
            stmt,
            params,
            concurrency=CASSANDRA_CONCURRENCY,
            raise_on_first_error=False,
        )
        seconds = time.perf_counter() - started
        failed = sum(1 for ok, _ in results if not ok)
        return {
            unit: len(params),
            "failed": failed,
            "concurrency": CASSANDRA_CONCURRENCY,
            "seconds": round(seconds, 3),
            f"{unit}_s": round((len(params) - failed) / seconds, 1),
        }

    def read_latency(
        self, owners: np.ndarray, rate_s: float, seconds: float, table: str = RAW_TABLE
    ) -> dict[str, Any]:
        """Latency of single-partition reads started on a fixed schedule (open loop)."""
        select = self.select
        if table != RAW_TABLE:
            select = self.session.prepare(
                f"SELECT body FROM {self.keyspace}.{table} "
                "WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT 20"
            )
        rng = np.random.default_rng(3)
        reads = [
            (select, (int(owners[p]), 2**63 - 1, -1))
            for p in rng.integers(0, owners.size, int(rate_s * seconds))
        ]
        run = OpenLoop(self.session, reads, rate_s)
        run.run()
        return {
            "table": table,
            "rate_s": rate_s,
            "seconds": seconds,
            "failed": run.failed,
            **latency_summary(run.latencies_ms),
            "generator_late_p99_ms": run.late_p99_ms(),
        }


class OpenLoop:
    """Statements started on a fixed schedule whatever the answers; latency counts from the
    scheduled start, so a slow answer delays nothing and queueing is not hidden."""

    def __init__(self, session: Session, work: Sequence[tuple[Any, Any]], rate_s: float) -> None:
        self.session = session
        self.work = work
        self.rate_s = rate_s
        self.latencies_ms: list[float] = []
        self.late_ms: list[float] = []
        self.failed = 0
        self._done = threading.Semaphore(0)

    def run(self) -> None:
        t0 = time.perf_counter() + 0.05
        for k, (stmt, params) in enumerate(self.work):
            due = t0 + k / self.rate_s
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.late_ms.append((time.perf_counter() - due) * 1000)
            future = self.session.execute_async(stmt, params)
            future.add_callbacks(self._ok(due), self._fail)
        for _ in self.work:
            self._done.acquire()

    def _ok(self, due: float) -> Callable[[Any], None]:
        def ok(_rows: Any) -> None:
            self.latencies_ms.append((time.perf_counter() - due) * 1000)
            self._done.release()

        return ok

    def _fail(self, _exc: BaseException) -> None:
        self.failed += 1
        self._done.release()

    def late_p99_ms(self) -> float:
        return round(float(np.percentile(self.late_ms, 99)), 3) if self.late_ms else 0.0
