"""The engine as a real process (`timeline up`) for fuzzing, on the local Kafka and Cassandra."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local import infra
from deploy.local.cleanup import drop_run
from engine.config import Settings
from engine.events import ALL_TOPICS
from tests.support import free_port

T = TypeVar("T")
PARTITIONS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


class LoopThread:
    """An event loop on its own thread, for async clients in synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


class LogEnd:
    """The sum of the end offsets of the engine's topics: it moves only on an append.

    The partitions are named from the served engine's settings, not from the client's
    metadata cache: a topic the cache has not learnt yet would count as empty in one reading
    and full in the next, which reads as a write."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int) -> None:
        self.thread = LoopThread()
        self.topics = [prefix + t for t in ALL_TOPICS]
        self.parts = [TopicPartition(t, p) for t in self.topics for p in range(partitions)]

        async def make() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
            await consumer.start()
            missing = set(self.topics) - await consumer.topics()
            assert not missing, f"the engine did not create {sorted(missing)}"
            return consumer

        self.consumer = self.thread.run(make())

    def total(self) -> int:
        async def ends() -> int:
            offsets = await self.consumer.end_offsets(self.parts)
            assert set(offsets) == set(self.parts), offsets
            return sum(offsets.values())

        return self.thread.run(ends())

    def close(self) -> None:
        self.thread.run(self.consumer.stop())


@pytest.fixture(scope="session")
def served() -> Iterator[tuple[str, LogEnd]]:
    """`timeline up` in a subprocess with a keyspace and topics of its own."""
    infra.ensure_up()
    run, port = uuid.uuid4().hex[:8], free_port()
    host, cport = infra.cassandra_contact()
    env = dict(
        os.environ,
        TIMELINE_BACKEND="kafka-cassandra",
        TIMELINE_KAFKA_BOOTSTRAP=infra.kafka_bootstrap(),
        TIMELINE_CASSANDRA_HOSTS=host,
        TIMELINE_CASSANDRA_PORT=str(cport),
        TIMELINE_CASSANDRA_KEYSPACE=f"fz_{run}",
        TIMELINE_KAFKA_TOPIC_PREFIX=f"fz-{run}.",
        TIMELINE_CONSUMER_GROUP_PREFIX=f"fz-{run}-",
        TIMELINE_KAFKA_PARTITIONS=str(PARTITIONS),
        TIMELINE_RATE_LIMITS="off",
        TIMELINE_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen([sys.executable, "-m", "timeline", "up", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        log_end = LogEnd(infra.kafka_bootstrap(), f"fz-{run}.", PARTITIONS)
        yield url, log_end
        log_end.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        asyncio.run(drop_run(Settings.from_env(env)))  # its keyspace and topics


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`timeline up` exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("`timeline up` did not become ready in 90 s")
