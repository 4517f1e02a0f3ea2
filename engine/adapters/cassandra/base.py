"""The base of every Cassandra adapter: the shared CqlSession, started by whoever needs it first."""

from __future__ import annotations

from engine.adapters.cassandra.session import CqlSession
from engine.ports import (
    Service,
)


class OnSession(Service):
    """An adapter whose connection is the shared session, started and stopped by its owner."""

    def __init__(self, cql: CqlSession) -> None:
        self.cql = cql

    async def start(self) -> None:
        await self.cql.start()

    async def stop(self) -> None:
        """The shared session is closed by the backend that owns it."""

    async def _truncate(self, *tables: str) -> None:
        """Empty these tables, one TRUNCATE each."""
        for table in tables:
            await self.cql.run(f"TRUNCATE {table}", op="truncate")
