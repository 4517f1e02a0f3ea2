"""The Cassandra session's connections are served by the process's event loop
(engine/adapters/cassandra/loop_connection.py): answers are read on the loop, a statement seen
for the first time is prepared without stopping it, the driver's own threads still get their
answers, and a process that ends without stopping its session does not hang on the way out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

from engine.adapters.cassandra.session import CqlSession

SYSTEM_LOCAL = "SELECT release_version FROM system.local"


async def test_answers_are_read_on_the_event_loop_thread(cql: CqlSession) -> None:
    """No driver I/O thread stands between a query and the loop: answers are decoded on the
    loop's thread, where the query's future resolves."""
    seen: list[int] = []
    cls = cql.session.cluster.connection_class
    original = cls.process_io_buffer

    def spy(self: object) -> None:
        seen.append(threading.get_ident())
        original(self)

    cls.process_io_buffer = spy  # type: ignore[method-assign]
    try:
        rows = await asyncio.gather(*(cql.run(SYSTEM_LOCAL, op="ping") for _ in range(20)))
    finally:
        cls.process_io_buffer = original  # type: ignore[method-assign]
    assert all(r and r[0][0] for r in rows)
    assert seen and set(seen) == {threading.get_ident()}


async def test_a_new_statement_is_prepared_while_the_loop_keeps_running(
    cql: CqlSession,
) -> None:
    """Preparing waits for every node's answer; done on the loop it would wait for answers only
    the loop can read. The loop keeps ticking while a statement is prepared."""
    ticks = 0
    stop = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    table = "loop_prepared"
    create = f"CREATE TABLE {cql.settings.cassandra_keyspace}.{table} (k int PRIMARY KEY, v int)"
    await asyncio.to_thread(cql.session.execute, create, timeout=60)
    before = ticks
    await cql.run(f"INSERT INTO {table} (k, v) VALUES (?, ?)", (1, 2), op="test")
    rows = await cql.run(f"SELECT v FROM {table} WHERE k = ?", (1,), op="test")
    stop.set()
    await ticker
    assert rows == [(2,)]
    assert ticks > before


async def test_the_drivers_own_threads_get_their_answers(cql: CqlSession) -> None:
    """A blocking call on a worker thread (a table scan does this) is answered while the loop
    serves the connections, alongside queries made on the loop."""
    blocking = asyncio.to_thread(lambda: list(cql.session.execute(SYSTEM_LOCAL)))
    on_loop = cql.run(SYSTEM_LOCAL, op="ping")
    threaded, looped = await asyncio.wait_for(asyncio.gather(blocking, on_loop), timeout=30)
    assert threaded[0][0] == looped[0][0]


async def test_a_process_that_never_stops_its_session_exits(cql: CqlSession) -> None:
    """The driver shuts its clusters down at exit, after the loop that served them has closed:
    the sockets are closed where they are, and the process ends."""
    s = cql.settings
    code = f"""
import asyncio
from engine.adapters.cassandra.session import CqlSession
from engine.config import Settings
from engine.metrics import Metrics

async def main():
    cql = CqlSession(Settings.from_env({{}}, backend="kafka-cassandra",
        cassandra_hosts=({s.cassandra_hosts[0]!r},),
        cassandra_port={s.cassandra_port}, cassandra_keyspace={s.cassandra_keyspace!r}), Metrics())
    await cql.start()
    print((await cql.run("SELECT release_version FROM system.local", op="ping"))[0][0])

asyncio.run(main())
"""
    started = time.monotonic()
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert time.monotonic() - started < 60
