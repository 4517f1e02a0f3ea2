"""The embedded direct messages: each user's messages and each conversation."""

from __future__ import annotations

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import (
    Conn,
    Rows,
    fetch_all,
    page_sql,
)
from engine.events import pack_message, unpack_message
from engine.ports import (
    MessageStore,
)
from engine.records import DirectMessage, PageQuery

BY_USER = Table("messages_by_user", ("user_id", "message_id"), ("body",), deletes=False)
CONVERSATIONS = Table(
    "conversations", ("user_id", "other_id", "message_id"), ("body",), deletes=False
)


class EmbeddedMessages(OnDb, MessageStore):
    """Each participant's messages, and each conversation, newest first."""

    async def clear(self) -> None:
        await self._empty("messages_by_user", "conversations")

    async def put_message(self, message: DirectMessage, ts_us: int) -> None:
        body, a, b = pack_message(message), message.sender_id, message.recipient_id
        mine = [(a, message.id, body, ts_us), (b, message.id, body, ts_us)]
        ours = [(a, b, message.id, body, ts_us), (b, a, message.id, body, ts_us)]
        await self.db.write("dm_write", lambda c: _put_message(c, mine, ours))

    async def page(
        self, user_id: int, query: PageQuery, other_id: int | None = None
    ) -> list[DirectMessage]:
        if other_id is None:
            sql = page_sql(BY_USER.name, "user_id = ?", "message_id")
            params: tuple[int, ...] = (user_id, *query.bounds, query.count)
        else:
            sql = page_sql(CONVERSATIONS.name, "user_id = ? AND other_id = ?", "message_id")
            params = (user_id, other_id, *query.bounds, query.count)
        rows = await self.db.read("dm_page", lambda c: fetch_all(c, sql, params))
        return [unpack_message(r[0]) for r in rows]


def _put_message(conn: Conn, mine: Rows, ours: Rows) -> None:
    BY_USER.put(conn, mine)
    CONVERSATIONS.put(conn, ours)
