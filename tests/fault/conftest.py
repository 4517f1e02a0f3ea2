"""The fault tier: a Kafka and a Cassandra of its own (other ports, other data), killed at will,
and a cluster of three of each (three loopback addresses, other ports again)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.local import infra
from engine.config import Settings
from engine.events import TWEETS_TOPIC
from tests.support import Api
from timeline.app import Engine

ROOT = Path(__file__).resolve().parents[2]
FAULT_ENV = {
    "TIMELINE_INFRA_DIR": str(ROOT / ".infra" / "fault"),
    "TIMELINE_INFRA_KAFKA_PORT": "19092",
    "TIMELINE_INFRA_KAFKA_CONTROLLER_PORT": "19093",
    "TIMELINE_INFRA_CASSANDRA_PORT": "19042",
    "TIMELINE_INFRA_CASSANDRA_STORAGE_PORT": "17000",
    "TIMELINE_INFRA_CASSANDRA_JMX_PORT": "17199",
    "TIMELINE_INFRA_KAFKA_HEAP_MB": "384",
    "TIMELINE_INFRA_CASSANDRA_HEAP_MB": "768",
}
CLUSTER_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CLUSTER_ENV = {
    "TIMELINE_INFRA_DIR": str(ROOT / ".infra" / "cluster"),
    "TIMELINE_INFRA_NODES": "3",
    "TIMELINE_INFRA_HOSTS": ",".join(CLUSTER_HOSTS),
    "TIMELINE_INFRA_KAFKA_PORT": "39092",
    "TIMELINE_INFRA_KAFKA_CONTROLLER_PORT": "39093",
    "TIMELINE_INFRA_CASSANDRA_PORT": "39042",
    "TIMELINE_INFRA_CASSANDRA_STORAGE_PORT": "37000",
    "TIMELINE_INFRA_CASSANDRA_JMX_PORT": "37199",
    "TIMELINE_INFRA_KAFKA_HEAP_MB": "384",
    "TIMELINE_INFRA_CASSANDRA_HEAP_MB": "768",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fault" in str(item.fspath):
            item.add_marker(pytest.mark.fault)


@contextmanager
def fault_env(env: dict[str, str] = FAULT_ENV) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Servers:
    """A fault tier's own servers (one node of each, or a cluster), with kill and restart."""

    def __init__(self, env: dict[str, str] = FAULT_ENV) -> None:
        self.env = env

    def kill(self, name: str) -> None:
        """SIGKILL a node ("kafka", or "kafka-2" in a cluster) and wait until it is gone."""
        with fault_env(self.env):
            infra.kill_node(name)

    async def start(self, name: str) -> float:
        """Start a node (or each node of a server) and wait until it answers; the seconds."""
        started = time.monotonic()
        with fault_env(self.env):
            await asyncio.to_thread(infra.ensure_up, name)
        return time.monotonic() - started

    def pid(self, name: str) -> int | None:
        with fault_env(self.env):
            return infra.server_pid(name)


def _servers_up(env: dict[str, str]) -> Servers:
    own_jars = Path(env["TIMELINE_INFRA_DIR"]) / "jars"
    main_jars = ROOT / ".infra" / "jars"
    if main_jars.exists() and not own_jars.exists():
        own_jars.parent.mkdir(parents=True, exist_ok=True)
        own_jars.symlink_to(main_jars)
    with fault_env(env):
        infra.ensure_up()
    return Servers(env)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    yield _servers_up(FAULT_ENV)
    with fault_env():
        infra.ensure_down(purge=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Servers]:
    """Three Kafka brokers and three Cassandra nodes, on 127.0.0.1-3."""
    started = time.monotonic()
    up = _servers_up(CLUSTER_ENV)
    print(f"\nCLUSTER up in {time.monotonic() - started:.1f}s", flush=True)
    yield up
    with fault_env(CLUSTER_ENV):
        infra.ensure_down(purge=True)


def fault_settings(**overrides: object) -> Settings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, object] = dict(
        backend="kafka-cassandra",
        kafka_bootstrap="127.0.0.1:19092",
        cassandra_port=19042,
        cassandra_keyspace=f"ft_{run}",
        kafka_topic_prefix=f"ft-{run}.",
        consumer_group_prefix=f"ft-{run}-",
        kafka_partitions=4,
        kafka_request_timeout_ms=3000,
        cassandra_request_timeout_s=3.0,
        rate_limits="off",
    )
    values.update(overrides)
    return Settings.from_env({}, **values)


def cluster_settings(**overrides: object) -> Settings:
    """The engine on the cluster, as deploy/README.md runs it: replication 3 everywhere."""
    values: dict[str, object] = dict(
        kafka_bootstrap=",".join(
            f"{h}:{CLUSTER_ENV['TIMELINE_INFRA_KAFKA_PORT']}" for h in CLUSTER_HOSTS
        ),
        cassandra_hosts=CLUSTER_HOSTS,
        cassandra_port=int(CLUSTER_ENV["TIMELINE_INFRA_CASSANDRA_PORT"]),
        kafka_replication_factor=3,
        cassandra_replication="{'class': 'SimpleStrategy', 'replication_factor': 3}",
        kafka_request_timeout_ms=10_000,
        cassandra_request_timeout_s=10.0,
    )
    values.update(overrides)
    return fault_settings(**values)


@asynccontextmanager
async def engine_api(
    settings: Settings, parts: tuple[str, ...] | None = None
) -> AsyncIterator[tuple[Engine, Api]]:
    """An engine (all its parts, or `parts`) in this process, with a client of its API."""
    engine = Engine(settings) if parts is None else Engine(settings, parts=parts)
    await engine.start()
    assert engine.app is not None
    client = TestClient(TestServer(engine.app))
    await client.start_server()
    try:
        yield engine, Api(client)
    finally:
        await client.close()
        await engine.stop()


@pytest_asyncio.fixture
async def running(servers: Servers) -> AsyncIterator[tuple[Engine, Api]]:
    """The whole engine in this process on the fault tier's servers."""
    async with engine_api(fault_settings()) as running:
        yield running


async def group_lag(settings: Settings, group: str) -> int:
    """Records of the tweets topic the group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        topic = settings.kafka_topic_prefix + TWEETS_TOPIC
        parts = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        ends = await consumer.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
        return sum(
            end - max(committed[tp].offset, 0) if tp in committed else end
            for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


async def logged_tweet_ids(settings: Settings) -> set[str]:
    """Every tweet id in the tweets topic, read from the start."""
    from engine.events import TweetPosted, decode_all

    consumer = AIOKafkaConsumer(
        settings.kafka_topic_prefix + TWEETS_TOPIC,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    ids: set[str] = set()
    try:
        empty = 0
        while empty < 4:
            batch = await consumer.getmany(timeout_ms=500)
            empty = 0 if batch else empty + 1
            for messages in batch.values():
                for m in messages:
                    for event in decode_all(m.value or b""):  # a record may be a pack
                        if isinstance(event, TweetPosted):
                            ids.add(str(event.tweet.id))
    finally:
        await consumer.stop()
    return ids
