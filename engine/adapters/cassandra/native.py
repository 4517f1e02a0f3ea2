"""The hot path's reads and batched writes through acsylla, the ScyllaDB C/C++ driver for asyncio.

cassandra-driver builds each request in Python: a ResponseFuture, a query plan from the
load-balancing policy, a timer, the message's encoding and framing, then the answer's
decoding and callbacks. Measured on the local node, reads of a home page (LIMIT 21) at 64 in
flight from one process: 150-210 client CPU-us a read through CqlSession against 72-87 (all
threads counted) through acsylla, which does that work in its own I/O thread and hands the
loop only the answer. So the reads a page is made of (`CqlSession.read`) and the batches of
upserts and deletes (`CqlSession.write_grouped`: the fan-out's home rows, the tweet store,
the checks) go through it, with the session's consistency, timeout and token-aware routing;
every other statement (single writes, lightweight transactions, schema changes, scans) stays
on cassandra-driver, whose metadata (replicas by token) the engine also uses. The fan-out's
batches were 70% of its process's CPU in bindings, batch encoding and framing.

TIMELINE_CASSANDRA_NATIVE=off sends all of it through cassandra-driver; so does a platform
acsylla publishes no build for (the import fails: logged once at start).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from engine.adapters.cassandra.errors import is_idempotent, store_error
from engine.config import Settings
from engine.errors import StoreUnavailable

log = logging.getLogger(__name__)
Rows = list[tuple[Any, ...]]

try:
    import acsylla
except ImportError:  # no build for this platform: cassandra-driver serves every request
    acsylla = None


class _NoShardNotice(logging.Filter):
    """Drops the driver's report, at ERROR and once a connection, that a node tells no shard
    layout: ScyllaDB's own; Apache Cassandra has none, and the driver goes on without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Could not retrieve sharding info")


logging.getLogger("acsylla").addFilter(_NoShardNotice())


def available() -> bool:
    """Whether acsylla could be imported here."""
    return acsylla is not None


class NativeClient:
    """One acsylla session: prepared statements by their text; a read's rows as tuples."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: Any = None
        self._cluster: Any = None
        self._prepared: dict[str, tuple[Any, bool]] = {}  # cql: (prepared, idempotent)

    async def start(self) -> None:
        """Connect (StoreUnavailable when no node answers)."""
        if acsylla is None:
            raise StoreUnavailable("acsylla is not installed")
        s = self.settings
        cluster = acsylla.create_cluster(
            list(s.cassandra_hosts),
            port=s.cassandra_port,
            connect_timeout=s.cassandra_request_timeout_s,
            request_timeout=s.cassandra_request_timeout_s,
            consistency="LOCAL_QUORUM",
            serial_consistency="LOCAL_SERIAL",
            token_aware_routing=True,
            # as the cassandra-driver session reconnects (session.py): a returning node is
            # found within 5 s, not the driver's default of up to a minute
            exponential_reconnect_base_delay_ms=500,
            exponential_reconnect_max_delay_ms=5000,
            log_level="error",  # not the warning that a node is no ScyllaDB (no shards)
            application_name="timeline-engine",
        )
        try:
            self._session = await cluster.create_session()
        except Exception as e:
            cluster.destroy()
            raise StoreUnavailable(f"cannot reach Cassandra (native reads): {e}") from e
        self._cluster = cluster

    async def stop(self) -> None:
        session, self._session = self._session, None
        cluster, self._cluster = self._cluster, None
        self._prepared.clear()
        if session is not None:
            await session.close()
        if cluster is not None:
            cluster.destroy()  # its wake-up socket pair, its log callback

    async def run(self, cql: str, params: Sequence[Any], op: str) -> Rows:
        """The rows of one prepared statement (its tables qualified) bound to params."""
        session = self._started()
        try:
            result = await session.execute(await self._bound(session, cql, params))
        except Exception as e:
            raise store_error(e, op) from e
        return [row.as_tuple() for row in result]

    async def run_batch(self, statements: Sequence[tuple[str, Sequence[Any]]], op: str) -> None:
        """Prepared statements (tables qualified) as one unlogged batch."""
        session = self._started()
        try:
            batch = acsylla.create_batch_unlogged()
            for cql, params in statements:
                batch.add_statement(await self._bound(session, cql, params))
            batch.set_is_idempotent(all(self._prepared[cql][1] for cql, _ in statements))
            await session.execute_batch(batch)
        except Exception as e:
            raise store_error(e, op) from e

    def _started(self) -> Any:
        if self._session is None:
            raise StoreUnavailable("the native Cassandra session is not started")
        return self._session

    async def _bound(self, session: Any, cql: str, params: Sequence[Any]) -> Any:
        """The statement prepared (once a text) and bound to params."""
        known = self._prepared.get(cql)
        if known is None:
            known = self._prepared[cql] = (await session.create_prepared(cql), is_idempotent(cql))
        prepared, idempotent = known
        statement = prepared.bind()
        statement.bind_list(list(params))
        if idempotent:  # a lost connection sends it to the next node rather than failing
            statement.set_is_idempotent(True)
        return statement
