"""Cassandra adapter for the users projection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.adapters.cassandra.base import OnSession
from engine.ports import (
    UserStore,
)
from engine.records import User
from engine.text import handle_key


class CassandraUsers(OnSession, UserStore):
    """The users projection, with counts summed from graph_counts."""

    async def clear(self) -> None:
        await self._truncate("users", "users_by_handle")

    async def put_user(self, user: User, ts_us: int) -> None:
        await asyncio.gather(
            self.cql.run(
                "INSERT INTO users (user_id, handle, display_name, created_ms) "
                "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                (user.id, user.handle, user.display_name, user.created_ms, ts_us),
                op="put_user",
            ),
            self.cql.run(
                "INSERT INTO users_by_handle (handle_key, user_id) VALUES (?, ?) USING TIMESTAMP ?",
                (handle_key(user.handle), user.id, ts_us),
                op="put_user",
            ),
        )

    async def get_user(self, user_id: int) -> User | None:
        rows, counts = await asyncio.gather(
            self.cql.run(
                "SELECT handle, display_name, created_ms FROM users WHERE user_id = ?",
                (user_id,),
                op="get_user",
            ),
            self.cql.run(
                "SELECT followers, following FROM graph_counts WHERE user_id = ?",
                (user_id,),
                op="get_user",
            ),
        )
        if not rows:
            return None
        handle, name, created_ms = rows[0]
        followers = sum(r[0] or 0 for r in counts)
        following = sum(r[1] or 0 for r in counts)
        return User(user_id, handle, name, created_ms, followers, following)

    async def get_user_by_handle(self, handle: str) -> User | None:
        rows = await self.cql.run(
            "SELECT user_id FROM users_by_handle WHERE handle_key = ?",
            (handle_key(handle),),
            op="get_user",
        )
        return await self.get_user(rows[0][0]) if rows else None

    async def get_users(self, user_ids: Sequence[int]) -> list[User]:
        found = await asyncio.gather(*(self.get_user(uid) for uid in user_ids))
        return [u for u in found if u is not None]
