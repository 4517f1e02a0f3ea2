"""Cassandra adapter for activity: when each user last read their home timeline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.adapters.cassandra.base import OnSession
from engine.ports import (
    Activity,
    ActivityStore,
)

ACTIVITY_IN_CHUNK = 100  # partition keys per IN query


class CassandraActivity(OnSession, ActivityStore):
    """home_activity: every cell written USING TIMESTAMP = the time it holds (newest wins)."""

    async def mark_read(self, user_id: int, at_us: int, *, reactivated: bool = False) -> None:
        if reactivated:
            await self.cql.run(
                "UPDATE home_activity USING TIMESTAMP ? SET last_read_us = ?, reactivated_us = ? "
                "WHERE user_id = ?",
                (at_us, at_us, at_us, user_id),
                op="activity_write",
            )
            return
        await self.cql.run(
            "UPDATE home_activity USING TIMESTAMP ? SET last_read_us = ? WHERE user_id = ?",
            (at_us, at_us, user_id),
            op="activity_write",
        )

    async def mark_rebuilt(self, user_id: int, at_us: int) -> None:
        await self.cql.run(
            "UPDATE home_activity USING TIMESTAMP ? SET rebuilt_us = ? WHERE user_id = ?",
            (at_us, at_us, user_id),
            op="activity_write",
        )

    async def activity(self, user_id: int) -> Activity | None:
        rows = await self.cql.run(
            "SELECT last_read_us, reactivated_us, rebuilt_us FROM home_activity WHERE user_id = ?",
            (user_id,),
            op="activity_read",
        )
        if not rows or not rows[0][0]:
            return None
        last, reactivated, rebuilt = rows[0]
        return Activity(user_id, last, reactivated or 0, rebuilt or 0)

    async def last_reads(self, user_ids: Sequence[int]) -> dict[int, int]:
        ids = list(dict.fromkeys(user_ids))
        chunks = [ids[i : i + ACTIVITY_IN_CHUNK] for i in range(0, len(ids), ACTIVITY_IN_CHUNK)]
        found = await asyncio.gather(
            *(
                self.cql.run(
                    "SELECT user_id, last_read_us FROM home_activity WHERE user_id IN ?",
                    (chunk,),
                    op="activity_read",
                )
                for chunk in chunks
            )
        )
        return {uid: last for rows in found for uid, last in rows if last}
