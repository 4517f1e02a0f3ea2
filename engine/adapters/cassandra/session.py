"""The Cassandra session: connection, schema migrations, and an asyncio bridge for queries."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from cassandra import ConsistencyLevel
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import (
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    tuple_factory,
)

from engine.adapters.cassandra import crc24, lazy_event, native
from engine.adapters.cassandra.errors import is_idempotent, store_error
from engine.adapters.cassandra.loop_connection import LoopConnection
from engine.config import Settings
from engine.errors import StoreUnavailable, TimelineError
from engine.metrics import Metrics
from engine.ports import Service
from schemas import cql_migrations

log = logging.getLogger(__name__)
Rows = list[tuple[Any, ...]]
T = TypeVar("T")

NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""The driver leaves Nagle's algorithm on (the Java driver turns it off): a request written in
more than one piece, such as a batch, then waited for the server's delayed ACK, about 40 ms
each (a 25-row batch took 48 ms on loopback, 5 ms with this option)."""
# One unlogged batch holds at most this many statements and about this many bytes of values:
# under batch_size_fail_threshold (50 KiB by default); the warn thresholds are raised in every
# configuration shipped (deploy/), since these batches are the intended shape.
#
# Smaller batches, more of them in flight: a node applies a batch's partitions one after
# another, each waiting for its commit-log sync (group mode), so a batch's latency grows with
# its partitions while concurrent batches share syncs. Measured on the local node, one
# fan-out batch of 400 tweets (800 tweet rows, 9,600 home rows): 256 statements / 40 KiB /
# 8 in flight took 0.5 s + 1.0 s of writes and 0.65-0.8 s of Cassandra CPU; 128 / 16 KiB /
# 32 took about 0.25 s + 0.5 s and 0.35-0.45 s.
#
# For the same reason a batch spans at most BATCH_MAX_PARTITIONS partitions: rows one to a
# partition (the tweet store, user timelines) filled 128-statement batches of ~100
# partitions, each batch waiting out that many syncs in turn. The fan-out's tweet-store
# writes for 100 tweets took 205 ms in two such batches, 63 ms in 13 batches of 16
# partitions; in the pipeline benchmark at 250 tweets/s publish-to-visible p50/p99 went
# from 866/1,360 ms to 616/1,102 ms, at 0.29 requests per tweet (was 0.25).
BATCH_MAX_STATEMENTS = 128
BATCH_MAX_BYTES = 16 * 1024
BATCH_MAX_PARTITIONS = 16
BATCHES_IN_FLIGHT = 32  # per process: enough to keep a node busy, few enough to time none out
SCAN_PAGE_ROWS = 5000
Write = tuple[str, Sequence[Any], int]  # statement, values, approximate bytes of the values
ROW_OVERHEAD = 48  # bytes of keys, timestamp and framing besides a row's blobs
Answer = tuple["asyncio.Future[Rows]", Rows | None, BaseException | None]


class CqlSession(Service):
    """One cassandra-driver session shared by every Cassandra adapter of a process."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._slots = asyncio.Semaphore(settings.cassandra_max_in_flight)
        self._batch_slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._answers: deque[Answer] = deque()
        self._wake_pending = False
        self._requests: dict[str, Any] = {}  # op -> its child of cassandra_requests
        self._native: native.NativeClient | None = None  # read(), write_grouped()
        self._qualified: dict[str, str] = {}

    async def start(self) -> None:
        if self._session is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        connection_class = LoopConnection.bound_to(self._loop)
        lazy_event.install()  # no threading.Event built per request (lazy_event.py)
        crc24.install()  # segment header checksums from a table (crc24.py)
        try:
            await asyncio.to_thread(self._connect, connection_class)
        except Exception as e:
            raise StoreUnavailable(f"cannot reach Cassandra: {e}") from e
        if self.settings.cassandra_native == "on":
            if native.available():
                client = native.NativeClient(self.settings)
                await client.start()
                self._native = client
            else:
                log.warning("acsylla is not installed here: cassandra-driver serves every query")

    def _connect(self, connection_class: type[LoopConnection]) -> None:
        """Connect, on a worker thread (the driver waits for its connections, which the
        event loop serves), and bring the keyspace to the schema's latest version."""
        s = self.settings
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
            request_timeout=s.cassandra_request_timeout_s,
            row_factory=tuple_factory,
        )
        cluster = Cluster(
            list(s.cassandra_hosts),
            port=s.cassandra_port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
            protocol_version=5,
            connect_timeout=s.cassandra_request_timeout_s,
            sockopts=NO_DELAY,
            connection_class=connection_class,
        )
        session = cluster.connect()
        session.default_fetch_size = None
        migrate(session, s.cassandra_keyspace, s.cassandra_replication)
        self._cluster, self._session = cluster, session

    async def stop(self) -> None:
        client, self._native = self._native, None
        if client is not None:
            await client.stop()
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise StoreUnavailable("the Cassandra session is not started")
        return self._session

    async def prepare(self, cql: str) -> PreparedStatement:
        """A prepared statement, cached by its text. The driver prepares synchronously (on
        every node, waiting for each), so a statement not seen before is prepared on a worker
        thread: the event loop serves the connections it waits for."""
        stmt = self._prepared.get(cql)
        if stmt is None:
            stmt = await self._prepare(cql)
        return stmt

    async def _prepare(self, cql: str) -> PreparedStatement:
        session = self.session
        try:
            stmt = await asyncio.to_thread(
                session.prepare, qualify(cql, self.settings.cassandra_keyspace)
            )
        except Exception as e:
            self.metrics.store_errors.labels("prepare").inc()
            raise store_error(e, "prepare") from e
        stmt.is_idempotent = is_idempotent(cql)  # its bound statements inherit it
        self._prepared[cql] = stmt
        return stmt

    async def run(self, cql: str, params: Sequence[Any] = (), *, op: str = "query") -> Rows:
        """Execute one prepared statement and return its rows."""
        stmt = await self.prepare(cql)
        return await self._execute(lambda: stmt.bind(params), op)

    async def read(self, cql: str, params: Sequence[Any] = (), *, op: str) -> Rows:
        """run() for the reads a page is made of: through acsylla when it runs (native.py),
        which costs the process half the CPU a read; values and columns of simple types
        (bigint, int, text, blob, boolean) only, where both drivers give the same values."""
        client = self._native
        if client is None:
            return await self.run(cql, params, op=op)
        return await self._counted(lambda: client.run(self._qualify(cql), params, op), op)

    async def _counted(self, request: Callable[[], Awaitable[T]], op: str) -> T:
        """A native request (native.py converts its errors), made once a slot is free and
        counted as _execute() counts cassandra-driver's."""
        async with self._slots:
            self._count_request(op)
            try:
                return await request()
            except TimelineError:
                self.metrics.store_errors.labels(op).inc()
                raise

    def _qualify(self, cql: str) -> str:
        qualified = self._qualified.get(cql)
        if qualified is None:
            qualified = self._qualified[cql] = qualify(cql, self.settings.cassandra_keyspace)
        return qualified

    async def run_batch(self, cql: str, rows: Sequence[Sequence[Any]], *, op: str) -> None:
        """Execute one statement for many rows of one partition as an unlogged batch."""
        if len(rows) == 1:
            await self.run(cql, rows[0], op=op)
            return

        stmt = await self.prepare(cql)

        def batch() -> BatchStatement:
            statement = BatchStatement(batch_type=BatchType.UNLOGGED)
            for params in rows:
                statement.add(stmt, params)
            return statement

        await self._execute(batch, op)

    async def write_grouped(self, writes: Iterable[Write], *, op: str) -> None:
        """Run upserts and deletes as unlogged batches, each holding the statements whose
        partitions share a primary replica (token-aware: one node applies the whole batch),
        at most BATCH_MAX_STATEMENTS and about BATCH_MAX_BYTES each; the batches run
        concurrently. Safe to retry whole: every write is an upsert at its event's time.

        A partition's statements are placed next to each other, so they mostly share a batch:
        the node applies a batch as one mutation per partition, and each mutation waits for
        its commit-log sync, so rows per mutation, not batches, bound what a node takes."""
        groups: dict[object, dict[bytes | None, list[tuple[Any, int]]]] = {}
        replica_of: dict[bytes | None, object] = {}
        metadata = self.session.cluster.metadata
        keyspace = self.settings.cassandra_keyspace
        writes = list(writes)
        statements = {cql: await self.prepare(cql) for cql in {w[0] for w in writes}}
        client = self._native
        key_of = {} if client is None else {c: routing_key_of(s) for c, s in statements.items()}
        for cql, params, size in writes:
            if client is not None:  # acsylla binds; the key alone is serialized here
                item: Any = (cql, params)
                key = key_of[cql](params)
            else:
                item = statements[cql].bind(params)
                key = item.routing_key
            replica = replica_of.get(key)
            if replica is None:
                replicas = metadata.get_replicas(keyspace, key)
                replica = replica_of[key] = replicas[0] if replicas else ""
            groups.setdefault(replica, {}).setdefault(key, []).append((item, size))
        runs = [run for partitions in groups.values() for run in chunks(partitions.values())]
        await asyncio.gather(*(self._execute_batch(run, op, client) for run in runs))

    async def _execute_batch(
        self, run: list[Any], op: str, client: native.NativeClient | None
    ) -> None:
        """One run of write_grouped(): (cql, params) through acsylla (`client`), else bound
        statements through cassandra-driver."""
        async with self._batch_slots:
            if client is None:
                await self._execute(functools.partial(_batch, run), op)
            else:
                statements = [(self._qualify(cql), params) for cql, params in run]
                await self._counted(lambda: client.run_batch(statements, op), op)

    async def scan(self, cql: str, params: Sequence[Any] = (), *, op: str) -> AsyncIterator[Rows]:
        """Every row a query selects, a page of SCAN_PAGE_ROWS at a time (a whole table)."""
        statement = (await self.prepare(cql)).bind(params)
        statement.fetch_size = SCAN_PAGE_ROWS
        paging_state = None
        while True:
            try:
                result = await asyncio.to_thread(
                    self.session.execute, statement, paging_state=paging_state
                )
            except Exception as e:
                self.metrics.store_errors.labels(op).inc()
                raise store_error(e, op) from e
            yield list(result.current_rows)
            paging_state = result.paging_state
            if paging_state is None:
                return

    async def run_together(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, op: str
    ) -> Rows:
        """Execute statements on one partition as one batch; with a condition (IF) in one of
        them, a lightweight transaction whose first row says whether it applied."""

        prepared = [(await self.prepare(cql), params) for cql, params in statements]

        def batch() -> BatchStatement:
            statement = BatchStatement(batch_type=BatchType.UNLOGGED)
            for stmt, params in prepared:
                statement.add(stmt, params)
            return statement

        return await self._execute(batch, op)

    async def ping(self) -> bool:
        """True when Cassandra answers a query."""
        try:
            await self._execute(lambda: "SELECT release_version FROM system.local", "ping")
        except TimelineError:
            return False
        return True

    async def _execute(self, statement: Callable[[], Any], op: str) -> Rows:
        """Build (prepare, bind) and run one statement; a driver error, from either step, is
        converted once: retriable StoreUnavailable or permanent StoreRejected."""
        async with self._slots:
            try:
                self._count_request(op)
                return await self._bridge(self.session.execute_async(statement()))
            except TimelineError:
                self.metrics.store_errors.labels(op).inc()
                raise
            except Exception as e:
                self.metrics.store_errors.labels(op).inc()
                raise store_error(e, op) from e

    def _count_request(self, op: str) -> None:
        """One more request of `op` on timeline_cassandra_requests_total (children cached)."""
        child = self._requests.get(op)
        if child is None:
            child = self._requests[op] = self.metrics.cassandra_requests.labels(op)
        child.inc()

    def _bridge(self, rf: ResponseFuture) -> asyncio.Future[Rows]:
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[Rows] = loop.create_future()

        def ok(rows: Rows) -> None:
            self._completed(loop, fut, rows, None)

        def fail(exc: BaseException) -> None:
            self._completed(loop, fut, None, exc)

        rf.add_callbacks(ok, fail)
        return fut

    def _completed(
        self,
        loop: asyncio.AbstractEventLoop,
        fut: asyncio.Future[Rows],
        rows: Rows | None,
        exc: BaseException | None,
    ) -> None:
        """An answer, mostly read on the loop itself (engine/adapters/cassandra/loop_connection.py):
        resolved there. From a driver thread (a retry scheduled there, say), queued, and the
        event loop woken once per burst: waking it is a write to its self-pipe, and answers
        that arrive while a wake-up is pending ride along with it. The flag is cleared before
        the queue is drained, so an answer queued after the drain started schedules its own.
        """
        if threading.get_ident() == self._loop_thread:
            _resolve(fut, rows, exc)
            return
        self._answers.append((fut, rows, exc))
        if not self._wake_pending:
            self._wake_pending = True
            loop.call_soon_threadsafe(self._drain_answers)

    def _drain_answers(self) -> None:
        self._wake_pending = False
        answers = self._answers
        while answers:
            _resolve(*answers.popleft())


def routing_key_of(statement: PreparedStatement) -> Callable[[Sequence[Any]], bytes | None]:
    """The routing key (serialized partition key) of a statement's values, as a bound
    statement has it: a single key column's value serialized alone, without binding the rest
    (a composite key is bound whole)."""
    indexes = statement.routing_key_indexes
    if indexes is not None and len(indexes) == 1:
        index = indexes[0]
        serialize = statement.column_metadata[index].type.serialize
        version = statement.protocol_version

        def single(params: Sequence[Any]) -> bytes | None:
            return serialize(params[index], version)  # type: ignore[no-any-return]

        return single

    def bound(params: Sequence[Any]) -> bytes | None:
        return statement.bind(params).routing_key  # type: ignore[no-any-return]

    return bound


def _batch(statements: list[BoundStatement]) -> BatchStatement:
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for bound in statements:
        batch.add(bound)
    return batch


def chunks(partitions: Iterable[Sequence[tuple[T, int]]]) -> list[list[T]]:
    """Items in runs of at most BATCH_MAX_STATEMENTS, about BATCH_MAX_BYTES of weight (a
    single item heavier than that is a run of its own) and BATCH_MAX_PARTITIONS partitions;
    `partitions` holds each partition's items, which stay next to each other."""
    runs: list[list[T]] = []
    run: list[T] = []
    size = spanned = 0
    for items in partitions:
        if run and spanned >= BATCH_MAX_PARTITIONS:
            runs.append(run)
            run, size, spanned = [], 0, 0
        spanned += 1
        for item, weight in items:
            if run and (len(run) >= BATCH_MAX_STATEMENTS or size + weight > BATCH_MAX_BYTES):
                runs.append(run)
                run, size, spanned = [], 0, 1
            run.append(item)
            size += weight
    if run:
        runs.append(run)
    return runs


def _resolve(fut: asyncio.Future[Rows], rows: Rows | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(list(rows or []))


_TABLE_RE = re.compile(r"\b(FROM|INTO|UPDATE|TRUNCATE)\s+([a-z_]+)\b(?!\.)")


def qualify(cql: str, keyspace: str) -> str:
    """The statement with its table names qualified by the keyspace (no USE, no ambiguity)."""
    return _TABLE_RE.sub(lambda m: f"{m.group(1)} {keyspace}.{m.group(2)}", cql)


DDL_TIMEOUT_S = 120.0
"""How long a schema change may take: a node busy with writes and compaction can take far
longer than a query's timeout to apply one and reach schema agreement."""


def migrate(session: Session, keyspace: str, replication: str) -> list[int]:
    """Create the keyspace and apply every CQL migration not yet recorded; returns those applied."""
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}",
        timeout=DDL_TIMEOUT_S,
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_version "
        "(version int PRIMARY KEY, name text, applied_at timestamp)",
        timeout=DDL_TIMEOUT_S,
    )
    done = {row[0] for row in session.execute(f"SELECT version FROM {keyspace}.schema_version")}
    applied = []
    for version, name, text in cql_migrations():
        if version in done:
            continue
        for statement in _statements(text):
            session.execute(statement.replace("{keyspace}", keyspace), timeout=DDL_TIMEOUT_S)
        session.execute(
            f"INSERT INTO {keyspace}.schema_version (version, name, applied_at) "
            "VALUES (%s, %s, %s)",
            (version, name, int(time.time() * 1000)),
        )
        log.info("applied CQL migration %s", name)
        applied.append(version)
    return applied


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
