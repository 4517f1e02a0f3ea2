"""The base of every embedded store adapter: the shared store file, which the backend owns."""

from __future__ import annotations

from engine.adapters.embedded.lww import empty_tables
from engine.adapters.embedded.sqlite import SqliteDb
from engine.config import Settings
from engine.ports import (
    Service,
)


class OnDb(Service):
    """An adapter on the shared store file, which the backend opens and closes."""

    def __init__(self, settings: Settings, db: SqliteDb) -> None:
        self.settings = settings
        self.db = db

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        """The shared file is closed by the backend that owns it."""

    async def _empty(self, *tables: str) -> None:
        """Empty these tables with their tombstones and trims, as Cassandra's TRUNCATE does."""
        await self.db.write("truncate", lambda c: empty_tables(c, tables))
