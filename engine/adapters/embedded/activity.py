"""The embedded activity store: when each user last read, was reactivated and rebuilt."""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.rows import (
    IN_CHUNK,
    Conn,
    fetch_all,
    fetch_one,
)
from engine.ports import (
    Activity,
    ActivityStore,
)

_ACTIVITY_UPSERT = (
    "INSERT INTO home_activity (user_id, last_read_us, reactivated_us, rebuilt_us) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
    "last_read_us = max(last_read_us, excluded.last_read_us), "
    "reactivated_us = max(reactivated_us, excluded.reactivated_us), "
    "rebuilt_us = max(rebuilt_us, excluded.rebuilt_us)"
)


class EmbeddedActivity(OnDb, ActivityStore):
    """home_activity: each field keeps the newest time written to it (0 = never)."""

    async def mark_read(self, user_id: int, at_us: int, *, reactivated: bool = False) -> None:
        params = (user_id, at_us, at_us if reactivated else 0, 0)
        await self.db.write("activity_write", lambda c: c.execute(_ACTIVITY_UPSERT, params))

    async def mark_rebuilt(self, user_id: int, at_us: int) -> None:
        params = (user_id, 0, 0, at_us)
        await self.db.write("activity_write", lambda c: c.execute(_ACTIVITY_UPSERT, params))

    async def activity(self, user_id: int) -> Activity | None:
        sql = (
            "SELECT last_read_us, reactivated_us, rebuilt_us FROM home_activity "
            "WHERE user_id = ? AND last_read_us > 0"
        )
        row = await self.db.read("activity_read", lambda c: fetch_one(c, sql, (user_id,)))
        return Activity(user_id, *row) if row else None

    async def last_reads(self, user_ids: Sequence[int]) -> dict[int, int]:
        ids = list(dict.fromkeys(user_ids))
        return await self.db.read("activity_read", lambda c: _last_reads(c, ids))


def _last_reads(conn: Conn, ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        sql = (
            "SELECT user_id, last_read_us FROM home_activity "
            f"WHERE user_id IN ({', '.join('?' * len(chunk))}) AND last_read_us > 0"
        )
        found.update(fetch_all(conn, sql, chunk))
    return found
