"""A fan-out consumer SIGKILLed mid-batch, and a rebalance: no row lost, none doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from engine.config import Settings
from tests.fault.conftest import Servers, engine_api, fault_settings
from tests.fault.test_faults import FOLLOWERS, Load, every_timeline_complete, follow_graph
from tests.support import Api, eventually, free_port
from timeline.app import Engine


def fanout_process(settings: Settings) -> subprocess.Popen[bytes]:
    """`timeline fanout` in a process of its own, on the same topics, groups and keyspace."""
    env = dict(
        os.environ,
        TIMELINE_BACKEND="kafka-cassandra",
        TIMELINE_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        TIMELINE_CASSANDRA_PORT=str(settings.cassandra_port),
        TIMELINE_CASSANDRA_KEYSPACE=settings.cassandra_keyspace,
        TIMELINE_KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix,
        TIMELINE_CONSUMER_GROUP_PREFIX=settings.consumer_group_prefix,
        TIMELINE_KAFKA_PARTITIONS=str(settings.kafka_partitions),
        TIMELINE_FANOUT_BATCH_MAX_RECORDS="20",
        TIMELINE_LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "timeline", "fanout", "--port", str(free_port())]
    return subprocess.Popen(cmd, env=env)


@pytest_asyncio.fixture
async def front(servers: Servers) -> AsyncIterator[tuple[Engine, Api]]:
    """Ingest and readers in this process; the fan-out runs in other processes."""
    async with engine_api(fault_settings(), parts=("ingest", "readers")) as running:
        yield running


async def test_consumer_killed_mid_batch_and_a_rebalance(front: tuple[Engine, Api]) -> None:
    engine, api = front
    first = fanout_process(engine.settings)
    others: list[subprocess.Popen[bytes]] = []
    try:
        authors, readers = await follow_graph(api)
        load = Load(api, authors, max_total=240)
        task = asyncio.create_task(load.run(pace_s=0.02))
        await eventually(lambda: asyncio.sleep(0, load.total()), lambda n: n >= 60, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed = time.monotonic()
        others.append(fanout_process(engine.settings))
        await eventually(lambda: asyncio.sleep(0, load.total()), lambda n: n >= 120, 60)
        others.append(fanout_process(engine.settings))  # joins the group: a rebalance
        await task
        await every_timeline_complete(api, readers, load)
        for author in authors:
            user = await api.call("GET", f"/v1/users/{author['id']}", 200)
            assert user["followers_count"] == FOLLOWERS  # replays counted nothing twice
        print(
            f"\nFAULT consumer-killed+rebalance: acked={load.total()} "
            f"reached_every_timeline={load.total()} "
            f"complete_after_kill_s={time.monotonic() - killed:.1f}"
        )
    finally:
        for proc in [first, *others]:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
