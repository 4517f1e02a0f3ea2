"""SQLite for the embedded backend: a thread per connection, group commit for writes.

A WAL-mode file has one writer thread, which runs every write queued while its previous
transaction was committing as one transaction (a savepoint per write, so one failure does not
sink the others) and answers only after COMMIT returned with synchronous=FULL, and one reader
thread, whose queries see every committed write. Neither blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import Unavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
Outcome = tuple["asyncio.Future[Any]", BaseException | None, Any]
MAX_BATCH_JOBS = 2000
BUSY_TIMEOUT_S = 10.0
PRAGMAS = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
"""


@dataclass(frozen=True, slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


class SqliteThread:
    """One SQLite connection owned by one thread, which runs queued jobs in batches.

    A writer runs each batch as one transaction (a savepoint per job) and answers only after
    COMMIT returned; a reader runs each job on its own. Either way, the answers of a batch
    reach the event loop in one callback.
    """

    def __init__(self, path: Path, setup: str, error: type[Unavailable], *, writer: bool) -> None:
        self.path = path
        self.setup = setup
        self.error = error
        self.writer = writer
        self.transactions = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Open the connection on a new thread; the error class if the file cannot be opened."""
        if self._thread is not None:
            return
        self._loop = loop = asyncio.get_running_loop()
        ready, self._closed = loop.create_future(), loop.create_future()
        role = "writer" if self.writer else "reader"
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"sqlite-{role}-{self.path.name}", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except Unavailable:
            self._thread = None
            raise

    async def stop(self) -> None:
        """Run the jobs already queued, then close the connection."""
        thread, self._thread = self._thread, None
        if thread is not None and self._closed is not None:
            self._queue.put(None)
            await self._closed

    async def call(self, job: Job[T]) -> T:
        """Run job(connection) on the thread and return what it returns."""
        if self._thread is None or self._loop is None:
            raise self.error(f"{self.path.name} is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(job, future))
        return await future

    def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._open()
        except sqlite3.Error as e:
            self._settle([(ready, self._failure("open", e), None)])
            return
        self._settle([(ready, None, None)])
        try:
            self._serve(conn)
        finally:
            conn.close()
            self._settle([(self._closed, None, None)] if self._closed else [])

    def _open(self) -> sqlite3.Connection:
        """The connection with the schema in place. Processes opening one new file at once
        contend for turning on WAL, which SQLite refuses at once ("database is locked")
        rather than through its busy timeout: that is tried again within the same timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            try:
                conn.executescript(self.setup)
            except sqlite3.OperationalError as e:
                conn.close()
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
                continue
            except sqlite3.Error:
                conn.close()
                raise
            return conn

    def _serve(self, conn: sqlite3.Connection) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH_JOBS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            jobs = [job for job in batch if job is not None]
            stopping = len(jobs) < len(batch)
            if jobs:
                run = self._transaction if self.writer else self._each
                self._settle(run(conn, jobs))

    def _transaction(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[Outcome]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._savepoint(conn, job) for job in jobs]
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            failure = self._failure("commit", e)
            return [(job.future, failure, None) for job in jobs]
        self.transactions += 1
        return outcomes

    def _savepoint(self, conn: sqlite3.Connection, job: _Job) -> Outcome:
        conn.execute("SAVEPOINT job")
        try:
            result = job.run(conn)
        except Exception as e:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return job.future, self._convert(e), None
        conn.execute("RELEASE job")
        return job.future, None, result

    def _each(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for job in jobs:
            try:
                outcomes.append((job.future, None, job.run(conn)))
            except Exception as e:
                outcomes.append((job.future, self._convert(e), None))
        return outcomes

    def _convert(self, e: Exception) -> BaseException:
        return self._failure("query", e) if isinstance(e, sqlite3.Error) else e

    def _failure(self, what: str, e: sqlite3.Error) -> Unavailable:
        failure = self.error(f"SQLite {what} on {self.path} failed: {e}")
        failure.__cause__ = e
        return failure

    def _settle(self, outcomes: list[Outcome]) -> None:
        if outcomes and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a daemon thread
                self._loop.call_soon_threadsafe(_resolve, outcomes)


def _resolve(outcomes: Sequence[Outcome]) -> None:
    for future, error, result in outcomes:
        if future.done():
            continue  # the caller gave up waiting
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class SqliteDb:
    """A SQLite file in WAL mode: one writer thread with group commit, one reader thread."""

    def __init__(
        self,
        path: Path,
        schema: str,
        error: type[Unavailable],
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.error = error
        self.on_failure = on_failure
        self.writer = SqliteThread(path, PRAGMAS + schema, error, writer=True)
        self.reader = SqliteThread(path, PRAGMAS, error, writer=False)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Create the folder and the schema, and open both connections (idempotent)."""
        async with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise self.error(f"cannot create {self.path.parent}: {e}") from e
            await self.writer.start()
            await self.reader.start()

    async def stop(self) -> None:
        """Close both connections after the jobs already queued (idempotent)."""
        async with self._lock:
            await self.reader.stop()
            await self.writer.stop()

    async def write(self, op: str, job: Job[T]) -> T:
        """Run job(connection) in the next group-commit transaction; return once committed."""
        return await self._call(self.writer, op, job)

    async def read(self, op: str, job: Job[T]) -> T:
        """Run job(connection) on the read connection (sees every committed write)."""
        return await self._call(self.reader, op, job)

    async def ping(self) -> bool:
        """True when the read connection answers a query."""
        try:
            await self.reader.call(lambda conn: conn.execute("SELECT 1").fetchall())
        except Unavailable:
            return False
        return True

    async def _call(self, thread: SqliteThread, op: str, job: Job[T]) -> T:
        try:
            return await thread.call(job)
        except Unavailable:
            if self.on_failure is not None:
                self.on_failure(op)
            raise
