"""The embedded backend: the log and every store in SQLite files under settings.data_dir.

Why SQLite: it is in the standard library (no JVM, no server, nothing to install), a WAL
commit is durable once it returns, B-trees clustered on a composite primary key give
Cassandra's "one partition, newest first" reads and Kafka's "partition, offset" scans, and
one writer with many concurrent readers is exactly the shape of this engine in one process.
Its one weakness, a single writer, is met by group commit: one thread owns the writer
connection and runs every write queued while the previous transaction was committing as one
transaction (each write in a savepoint of its own, so one failure does not sink the others),
paying one fsync for hundreds of appends. Reads run on a second thread and connection, so
neither blocks the event loop nor waits for the writer.

The log and the stores are separate files (log.sqlite3, store.sqlite3), as Kafka and
Cassandra are separate systems: each has its own writer, and a long fan-out transaction never
delays an append.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from engine.adapters.embedded.activity import EmbeddedActivity
from engine.adapters.embedded.checks import EmbeddedChecks
from engine.adapters.embedded.graph import EmbeddedGraph
from engine.adapters.embedded.index import EmbeddedIndex
from engine.adapters.embedded.leases import EmbeddedLeases
from engine.adapters.embedded.lists import EmbeddedLists
from engine.adapters.embedded.log import EmbeddedConsumer, EmbeddedLog
from engine.adapters.embedded.messages import EmbeddedMessages
from engine.adapters.embedded.phones import EmbeddedPhones
from engine.adapters.embedded.registry import EmbeddedRegistry
from engine.adapters.embedded.search import EmbeddedSearch
from engine.adapters.embedded.sqlite import SqliteDb
from engine.adapters.embedded.tail import EmbeddedTail
from engine.adapters.embedded.timelines import EmbeddedTimelines
from engine.adapters.embedded.trends import EmbeddedTrends
from engine.adapters.embedded.users import EmbeddedUsers
from engine.config import Settings
from engine.errors import LogUnavailable, StoreUnavailable
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogTail, RevokeHook
from schemas import sqlite_schema

STORE_SCHEMAS = ("store", "keys", "views", "search", "lists", "checks")  # store.sqlite3's, in order


class EmbeddedBackend(Backend):
    """The log and every store in SQLite files under one folder, in this process."""

    log: EmbeddedLog

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        root = Path(settings.data_dir)
        self.log_db = SqliteDb(root / "log.sqlite3", sqlite_schema("log"), LogUnavailable)
        self.store_db = SqliteDb(
            root / "store.sqlite3",
            sqlite_schema(*STORE_SCHEMAS),
            StoreUnavailable,
            lambda op: metrics.store_errors.labels(op).inc(),
        )
        self.log = EmbeddedLog(settings, metrics, self.log_db)
        self.registry = EmbeddedRegistry(settings, self.store_db)
        self.users = EmbeddedUsers(settings, self.store_db)
        self.graph = EmbeddedGraph(settings, self.store_db)
        self.timelines = EmbeddedTimelines(settings, self.store_db)
        self.phones = EmbeddedPhones(settings, self.store_db)
        self.lists = EmbeddedLists(settings, self.store_db)
        self.index = EmbeddedIndex(settings, self.store_db)
        self.messages = EmbeddedMessages(settings, self.store_db)
        self.trends = EmbeddedTrends(settings, self.store_db)
        self.search = EmbeddedSearch(settings, self.store_db)
        self.activity = EmbeddedActivity(settings, self.store_db)
        self.leases = EmbeddedLeases(settings)
        self.checks = EmbeddedChecks(settings, self.store_db)
        self._group_locks: list[int] = []

    async def start(self) -> None:
        await self.store_db.start()
        await self.log.start()
        await self.registry.start()
        await self.trends.start()
        await self.leases.start()

    def claim_group(self, group: str, command: str) -> str | None:
        """One process at a time consumes a group of an embedded data folder (the log's
        offsets and the stores are written by one member): an exclusive lock on a file per
        group under `groups/`, held until this backend stops (or the process dies)."""
        folder = Path(self.settings.data_dir) / "groups"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{group}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip()
            os.close(fd)
            return holder or "another process"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        self._group_locks.append(fd)
        return None

    async def stop(self) -> None:
        for fd in self._group_locks:
            os.close(fd)  # closing the file lets the lock go
        self._group_locks.clear()
        await self.leases.stop()
        await self.log.stop()
        await self.log_db.stop()
        await self.store_db.stop()

    def consumer(
        self, group: str, topics: Sequence[str], on_revoke: RevokeHook, *, gather_ms: int = 0
    ) -> LogConsumer:
        # gather_ms is not needed here: the embedded store's writes cost per row, not per batch
        return EmbeddedConsumer(self.log, group, topics, on_revoke)

    def tail(self, topics: Sequence[str]) -> LogTail:
        return EmbeddedTail(self.log, topics)

    async def ping_store(self) -> bool:
        return await self.store_db.ping()


def create_backend(settings: Settings, metrics: Metrics) -> Backend:
    """The factory of this backend."""
    return EmbeddedBackend(settings, metrics)
