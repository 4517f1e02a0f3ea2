"""The embedded users projection, newest write wins."""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import Conn, fetch_one
from engine.ports import (
    UserStore,
)
from engine.records import User
from engine.text import handle_key

USERS = Table("users", ("user_id",), ("handle", "display_name", "created_ms"), deletes=False)
USERS_BY_HANDLE = Table("users_by_handle", ("handle_key",), ("user_id",), deletes=False)


class EmbeddedUsers(OnDb, UserStore):
    """The users projection, with counts summed from graph_counts."""

    async def clear(self) -> None:
        await self._empty("users", "users_by_handle")

    async def put_user(self, user: User, ts_us: int) -> None:
        await self.db.write("put_user", lambda c: _put_user(c, user, ts_us))

    async def get_user(self, user_id: int) -> User | None:
        return await self.db.read("get_user", lambda c: _get_user(c, user_id))

    async def get_user_by_handle(self, handle: str) -> User | None:
        return await self.db.read("get_user", lambda c: _user_by_handle(c, handle_key(handle)))

    async def get_users(self, user_ids: Sequence[int]) -> list[User]:
        found = await self.db.read("get_user", lambda c: [_get_user(c, i) for i in user_ids])
        return [u for u in found if u is not None]


def _put_user(conn: Conn, user: User, ts_us: int) -> None:
    USERS.put(conn, [(user.id, user.handle, user.display_name, user.created_ms, ts_us)])
    USERS_BY_HANDLE.put(conn, [(handle_key(user.handle), user.id, ts_us)])


def _get_user(conn: Conn, user_id: int) -> User | None:
    row = fetch_one(
        conn, "SELECT handle, display_name, created_ms FROM users WHERE user_id = ?", (user_id,)
    )
    if row is None:
        return None
    followers, following = fetch_one(
        conn,
        "SELECT COALESCE(SUM(followers), 0), COALESCE(SUM(following), 0) FROM graph_counts "
        "WHERE user_id = ?",
        (user_id,),
    )
    handle, display_name, created_ms = row
    return User(user_id, handle, display_name, created_ms, followers, following)


def _user_by_handle(conn: Conn, key: str) -> User | None:
    row = fetch_one(conn, "SELECT user_id FROM users_by_handle WHERE handle_key = ?", (key,))
    return None if row is None else _get_user(conn, row[0])
