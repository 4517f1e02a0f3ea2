"""Cassandra adapter for direct messages: each user's messages and each conversation."""

from __future__ import annotations

import asyncio

from engine.adapters.cassandra.base import OnSession
from engine.events import (
    pack_message,
    unpack_message,
)
from engine.ports import (
    MessageStore,
)
from engine.records import DirectMessage, PageQuery


class CassandraMessages(OnSession, MessageStore):
    """Each participant's messages, and each conversation, newest first."""

    async def clear(self) -> None:
        await self._truncate("messages_by_user", "conversations")

    async def put_message(self, message: DirectMessage, ts_us: int) -> None:
        body = pack_message(message)
        a, b = message.sender_id, message.recipient_id
        by_user = (
            "INSERT INTO messages_by_user (user_id, message_id, body) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?"
        )
        convo = (
            "INSERT INTO conversations (user_id, other_id, message_id, body) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        )
        await asyncio.gather(
            self.cql.run(by_user, (a, message.id, body, ts_us), op="dm_write"),
            self.cql.run(by_user, (b, message.id, body, ts_us), op="dm_write"),
            self.cql.run(convo, (a, b, message.id, body, ts_us), op="dm_write"),
            self.cql.run(convo, (b, a, message.id, body, ts_us), op="dm_write"),
        )

    async def page(
        self, user_id: int, query: PageQuery, other_id: int | None = None
    ) -> list[DirectMessage]:
        upper, lower = query.bounds
        if other_id is None:
            rows = await self.cql.run(
                "SELECT body FROM messages_by_user WHERE user_id = ? AND message_id <= ? "
                "AND message_id > ? LIMIT ?",
                (user_id, upper, lower, query.count),
                op="dm_page",
            )
        else:
            rows = await self.cql.run(
                "SELECT body FROM conversations WHERE user_id = ? AND other_id = ? "
                "AND message_id <= ? AND message_id > ? LIMIT ?",
                (user_id, other_id, upper, lower, query.count),
                op="dm_page",
            )
        return [unpack_message(r[0]) for r in rows]
