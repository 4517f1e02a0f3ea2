"""The kafka-cassandra backend: the log on Kafka, every store on Cassandra."""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.cassandra import (
    CassandraActivity,
    CassandraChecks,
    CassandraGraph,
    CassandraIndex,
    CassandraLeases,
    CassandraLists,
    CassandraMessages,
    CassandraPhones,
    CassandraRegistry,
    CassandraSearch,
    CassandraTimelines,
    CassandraTrends,
    CassandraUsers,
    CqlSession,
)
from engine.adapters.kafka import KafkaConsumer, KafkaLog, KafkaTail
from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogTail, RevokeHook


class KafkaCassandraBackend(Backend):
    """Kafka for the log, Cassandra for the registry and every projection."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.cql = CqlSession(settings, metrics)
        self.log = KafkaLog(settings, metrics)
        self.registry = CassandraRegistry(self.cql)
        self.users = CassandraUsers(self.cql)
        self.graph = CassandraGraph(self.cql)
        self.timelines = CassandraTimelines(self.cql)
        self.phones = CassandraPhones(self.cql)
        self.lists = CassandraLists(self.cql)
        self.index = CassandraIndex(self.cql)
        self.messages = CassandraMessages(self.cql)
        self.trends = CassandraTrends(self.cql)
        self.search = CassandraSearch(self.cql)
        self.activity = CassandraActivity(self.cql)
        self.leases = CassandraLeases(self.cql)
        self.checks = CassandraChecks(self.cql)
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        await self.cql.start()
        await self.log.start()
        await self.log.ensure_topics()
        self._started = True

    async def stop(self) -> None:
        self._started = False
        await self.log.stop()
        await self.cql.stop()

    def consumer(
        self, group: str, topics: Sequence[str], on_revoke: RevokeHook, *, gather_ms: int = 0
    ) -> LogConsumer:
        return KafkaConsumer(self.settings, group, topics, on_revoke, gather_ms)

    def tail(self, topics: Sequence[str]) -> LogTail:
        return KafkaTail(self.settings, topics)

    async def ping_store(self) -> bool:
        return await self.cql.ping()


def create_backend(settings: Settings, metrics: Metrics) -> Backend:
    """The factory of this backend."""
    return KafkaCassandraBackend(settings, metrics)
