"""Removing what one test or benchmark run created on the local servers: its keyspace and
its topics (every topic named with the run's prefix)."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from cassandra.cluster import Cluster

from engine.config import Settings


async def drop_run(settings: Settings, timeout_s: float = 120.0) -> None:
    """Drop the run's keyspace and its prefixed topics; refuses a run without a topic prefix,
    which would name every topic of the cluster."""
    if not settings.kafka_topic_prefix:
        raise ValueError("a run to drop needs its own TIMELINE_KAFKA_TOPIC_PREFIX")

    def drop_keyspace() -> None:  # the driver blocks: off the event loop
        cluster = Cluster(list(settings.cassandra_hosts), port=settings.cassandra_port)
        try:
            cluster.connect().execute(
                f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=timeout_s
            )
        finally:
            cluster.shutdown()

    await asyncio.to_thread(drop_keyspace)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(settings.kafka_topic_prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
