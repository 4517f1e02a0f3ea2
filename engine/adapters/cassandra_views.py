"""Cassandra adapters for phones, lists, hashtag and mention indexes, messages and trends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import msgpack

from engine.adapters.cassandra import OnSession
from engine.events import pack_tweet, unpack_tweet
from engine.ids import MAX_ID, id_ms
from engine.ports import (
    Activity,
    ActivityStore,
    IndexStore,
    ListStore,
    MessageStore,
    PhoneBook,
    TrendRow,
    TrendStore,
)
from engine.records import DirectMessage, PageQuery, Tweet, UserList

DAY_MS = 86_400_000
ACTIVITY_IN_CHUNK = 100  # partition keys per IN query
MAX_TAG_DAYS = 3650


def bounds(query: PageQuery) -> tuple[int, int]:
    """(max_id inclusive, since_id exclusive) of a page query, with open ends filled."""
    upper = MAX_ID if query.max_id is None else query.max_id
    return upper, -1 if query.since_id is None else query.since_id


class CassandraPhones(OnSession, PhoneBook):
    """Phone numbers claimed by lightweight transaction."""

    async def claim_phone(self, phone: str, user_id: int) -> bool:
        rows = await self.cql.run(
            "INSERT INTO phones (phone, user_id) VALUES (?, ?) IF NOT EXISTS",
            (phone, user_id),
            op="claim_phone",
        )
        return bool(rows[0][0]) or rows[0][-1] == user_id

    async def phone_owner(self, phone: str) -> int | None:
        rows = await self.cql.run(
            "SELECT user_id FROM phones WHERE phone = ?", (phone,), op="phone_owner"
        )
        return int(rows[0][0]) if rows else None


class CassandraLists(OnSession, ListStore):
    """Lists, members in both directions, and list timelines."""

    async def put_list(self, user_list: UserList) -> None:
        await self.cql.run(
            "INSERT INTO lists (list_id, owner_id, name, created_ms) VALUES (?, ?, ?, ?)",
            (user_list.id, user_list.owner_id, user_list.name, user_list.created_ms),
            op="lists",
        )

    async def get_list(self, list_id: int) -> UserList | None:
        rows = await self.cql.run(
            "SELECT owner_id, name, created_ms FROM lists WHERE list_id = ?",
            (list_id,),
            op="lists",
        )
        return UserList(list_id, *rows[0]) if rows else None

    async def set_member(self, list_id: int, member_id: int, present: bool, ts_us: int) -> None:
        if present:
            await self.cql.run(
                "INSERT INTO list_members (list_id, member_id) VALUES (?, ?) USING TIMESTAMP ?",
                (list_id, member_id, ts_us),
                op="lists",
            )
        else:
            await self.cql.run(
                "DELETE FROM list_members USING TIMESTAMP ? WHERE list_id = ? AND member_id = ?",
                (ts_us, list_id, member_id),
                op="lists",
            )

    async def member_ids(self, list_id: int) -> list[int]:
        rows = await self.cql.run(
            "SELECT member_id FROM list_members WHERE list_id = ?", (list_id,), op="lists"
        )
        return [r[0] for r in rows]


class CassandraIndex(OnSession, IndexStore):
    """Hashtag timelines bucketed by UTC day, and mention timelines."""

    async def add_tag_rows(self, tag_key: str, rows: Sequence[tuple[Tweet, int]]) -> None:
        by_day: dict[int, list[tuple[Tweet, int]]] = {}
        for tweet, ts in rows:
            by_day.setdefault(id_ms(tweet.id) // DAY_MS, []).append((tweet, ts))
        await asyncio.gather(*(self._add_day(tag_key, d, r) for d, r in by_day.items()))

    async def _add_day(self, tag_key: str, day: int, rows: list[tuple[Tweet, int]]) -> None:
        await self.cql.run(
            "INSERT INTO hashtag_days (tag, day) VALUES (?, ?)", (tag_key, day), op="tag_write"
        )
        await self.cql.run_batch(
            "INSERT INTO hashtag_timeline (tag, day, tweet_id, body) VALUES (?, ?, ?, ?) "
            "USING TIMESTAMP ?",
            [(tag_key, day, t.id, pack_tweet(t), ts) for t, ts in rows],
            op="tag_write",
        )

    async def remove_tag_row(self, tag_key: str, tweet: Tweet, ts_us: int) -> None:
        await self.cql.run(
            "DELETE FROM hashtag_timeline USING TIMESTAMP ? "
            "WHERE tag = ? AND day = ? AND tweet_id = ?",
            (ts_us, tag_key, id_ms(tweet.id) // DAY_MS, tweet.id),
            op="tag_delete",
        )

    async def tag_page(self, tag_key: str, query: PageQuery) -> list[Tweet]:
        upper, lower = bounds(query)
        days = await self.cql.run(
            "SELECT day FROM hashtag_days WHERE tag = ? AND day <= ? LIMIT ?",
            (tag_key, id_ms(upper) // DAY_MS if upper != MAX_ID else 2**31 - 1, MAX_TAG_DAYS),
            op="tag_page",
        )
        lowest_day = id_ms(lower) // DAY_MS if lower > 0 else -1
        found: list[Tweet] = []
        for (day,) in days:
            if day < lowest_day or len(found) >= query.count:
                break
            rows = await self.cql.run(
                "SELECT body FROM hashtag_timeline WHERE tag = ? AND day = ? AND tweet_id <= ? "
                "AND tweet_id > ? LIMIT ?",
                (tag_key, day, upper, lower, query.count - len(found)),
                op="tag_page",
            )
            found += [unpack_tweet(r[0]) for r in rows]
        return found

    async def add_mention_rows(self, user_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        await self.cql.run_batch(
            "INSERT INTO mention_timeline (user_id, tweet_id, body) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?",
            [(user_id, t.id, pack_tweet(t), ts) for t, ts in rows],
            op="mention_write",
        )

    async def remove_mention_row(self, user_id: int, tweet_id: int, ts_us: int) -> None:
        await self.cql.run(
            "DELETE FROM mention_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?",
            (ts_us, user_id, tweet_id),
            op="mention_delete",
        )

    async def mention_page(self, user_id: int, query: PageQuery) -> list[Tweet]:
        upper, lower = bounds(query)
        rows = await self.cql.run(
            "SELECT body FROM mention_timeline WHERE user_id = ? AND tweet_id <= ? "
            "AND tweet_id > ? LIMIT ?",
            (user_id, upper, lower, query.count),
            op="page",
        )
        return [unpack_tweet(r[0]) for r in rows]


def pack_message(m: DirectMessage) -> bytes:
    """A message as msgpack bytes."""
    return bytes(
        msgpack.packb(
            [
                m.id,
                m.sender_id,
                m.sender_handle,
                m.recipient_id,
                m.recipient_handle,
                m.text,
                m.created_ms,
            ]
        )
    )


def unpack_message(blob: bytes) -> DirectMessage:
    """The inverse of pack_message."""
    return DirectMessage(*msgpack.unpackb(blob))


class CassandraMessages(OnSession, MessageStore):
    """Each participant's messages, and each conversation, newest first."""

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
        upper, lower = bounds(query)
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


class CassandraTrends(OnSession, TrendStore):
    """Per-minute hashtag counts, one row per minute and partition."""

    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        found = await asyncio.gather(
            *(
                self.cql.run(
                    "SELECT counts, applied_offset FROM trend_minutes "
                    "WHERE minute = ? AND log_partition = ?",
                    key,
                    op="trends",
                )
                for key in keys
            )
        )
        return {
            key: TrendRow(key[0], key[1], dict(rows[0][0] or {}), rows[0][1])
            if rows
            else TrendRow(key[0], key[1], {})
            for key, rows in zip(keys, found, strict=True)
        }

    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO trend_minutes (minute, log_partition, counts, applied_offset) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        r.minute,
                        r.log_partition,
                        {k: v for k, v in r.counts.items() if v},
                        r.applied_offset,
                    ),
                    op="trends",
                )
                for r in rows
            )
        )

    async def window(self, minutes: Sequence[int]) -> dict[str, int]:
        found = await asyncio.gather(
            *(
                self.cql.run("SELECT counts FROM trend_minutes WHERE minute = ?", (m,), op="trends")
                for m in minutes
            )
        )
        # summing may touch every tag of the day: a worker thread, not the event loop
        return await asyncio.to_thread(_sum_maps, [c for rows in found for (c,) in rows if c])


def _sum_maps(maps: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in maps:
        total.update(counts)
    return {tag: n for tag, n in total.items() if n > 0}


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
