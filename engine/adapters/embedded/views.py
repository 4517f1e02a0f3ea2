"""The embedded views: phones, lists, hashtag and mention indexes, messages and trends.

The tables of schemas/cql/002_features.cql with the same behaviour, on the store file of
embedded_store and its rules: every row carries its event time, the newest write wins,
deletes leave tombstones. A hashtag's timeline is one B-tree range here, so the day buckets
(and hashtag_days) that keep Cassandra partitions bounded are not needed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgpack

from engine.adapters.embedded.lists import EmbeddedListTables
from engine.adapters.embedded.store import (
    IN_CHUNK,
    Conn,
    OnDb,
    Rows,
    Table,
    decode_tweet,
    fetch_all,
    fetch_one,
    page_sql,
)
from engine.events import PhoneRegistered, encode, pack_message, pack_tweet, unpack_message
from engine.ports import (
    Activity,
    ActivityStore,
    Claim,
    IndexStore,
    ListStore,
    MessageStore,
    PhoneBook,
    TrendRow,
    TrendStore,
    TrendTweet,
)
from engine.records import DirectMessage, PageQuery, Tweet, UserList
from engine.registrations import PENDING, REGISTERED, claim_from_row

TREND_TTL_S = 172_800  # trend_minutes' default_time_to_live
VIEWS_SCHEMA = """
BEGIN;
CREATE TABLE IF NOT EXISTS phones (
    phone TEXT PRIMARY KEY, user_id INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS lists (
    list_id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, name TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS list_members (
    list_id INTEGER, member_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (list_id, member_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashtag_timeline (
    tag TEXT, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (tag, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mention_timeline (
    user_id INTEGER, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages_by_user (
    user_id INTEGER, message_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (
    user_id INTEGER, other_id INTEGER, message_id INTEGER, body BLOB NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (user_id, other_id, message_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trend_minutes (
    minute INTEGER, log_partition INTEGER, counts BLOB NOT NULL,
    applied_offset INTEGER NOT NULL, expires_s REAL NOT NULL,
    PRIMARY KEY (minute, log_partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trend_tweets (
    minute INTEGER, log_partition INTEGER, tweet_id INTEGER, delta INTEGER NOT NULL,
    applied_offset INTEGER NOT NULL, expires_s REAL NOT NULL,
    PRIMARY KEY (minute, log_partition, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_activity (
    user_id INTEGER PRIMARY KEY, last_read_us INTEGER NOT NULL DEFAULT 0,
    reactivated_us INTEGER NOT NULL DEFAULT 0, rebuilt_us INTEGER NOT NULL DEFAULT 0);
COMMIT;
"""
HASHTAGS = Table("hashtag_timeline", ("tag", "tweet_id"), ("body",))
MENTIONS = Table("mention_timeline", ("user_id", "tweet_id"), ("body",))
BY_USER = Table("messages_by_user", ("user_id", "message_id"), ("body",), deletes=False)
CONVERSATIONS = Table(
    "conversations", ("user_id", "other_id", "message_id"), ("body",), deletes=False
)


class EmbeddedPhones(OnDb, PhoneBook):
    """Phone numbers, each claimed, and marked registered, in one transaction."""

    async def claim_phone(self, event: PhoneRegistered) -> Claim[PhoneRegistered]:
        row = await self.db.write("claim_phone", lambda c: _claim_phone(c, event))
        return claim_from_row(PhoneRegistered, *row)

    async def mark_registered(self, event: PhoneRegistered) -> None:
        sql = "UPDATE phones SET state = ? WHERE phone = ? AND user_id = ?"
        params = (REGISTERED, event.phone, event.user_id)
        await self.db.write("claim_phone", lambda c: c.execute(sql, params))

    async def phone_claim(self, phone: str) -> Claim[PhoneRegistered] | None:
        sql = "SELECT user_id, event, state FROM phones WHERE phone = ?"
        row = await self.db.read("phone_owner", lambda c: fetch_one(c, sql, (phone,)))
        return claim_from_row(PhoneRegistered, *row) if row else None

    async def phone_owner(self, phone: str) -> int | None:
        claim = await self.phone_claim(phone)
        return claim.user_id if claim is not None and claim.registered else None


def _claim_phone(conn: Conn, event: PhoneRegistered) -> tuple[int, bytes | None, str | None]:
    """The holder's (user id, event, state): this event's, pending, if the number was free."""
    sql = "SELECT user_id, event, state FROM phones WHERE phone = ?"
    holder = fetch_one(conn, sql, (event.phone,))
    if holder is not None:
        return int(holder[0]), holder[1], holder[2]
    blob = encode(event)
    conn.execute(
        "INSERT INTO phones (phone, user_id, event, state) VALUES (?, ?, ?, ?)",
        (event.phone, event.user_id, blob, PENDING),
    )
    return event.user_id, blob, PENDING


class EmbeddedLists(EmbeddedListTables, ListStore):
    """Lists, and (in EmbeddedListTables) their members and timelines, by event time."""

    async def clear(self) -> None:
        await self._empty(
            "lists",
            "list_members",
            "list_counts",
            "lists_by_member",
            "list_timeline",
            "list_trims",
            "list_author_tweets",
            "list_author_trims",
        )

    async def put_list(self, user_list: UserList) -> None:
        params = (user_list.id, user_list.owner_id, user_list.name, user_list.created_ms)
        sql = (
            "INSERT OR REPLACE INTO lists (list_id, owner_id, name, created_ms) VALUES (?, ?, ?, ?)"
        )
        await self.db.write("lists", lambda c: c.execute(sql, params))

    async def get_list(self, list_id: int) -> UserList | None:
        sql = "SELECT owner_id, name, created_ms FROM lists WHERE list_id = ?"
        row = await self.db.read("lists", lambda c: fetch_one(c, sql, (list_id,)))
        return UserList(list_id, row[0], row[1], row[2]) if row else None


class EmbeddedIndex(OnDb, IndexStore):
    """Hashtag and mention timelines, newest first."""

    async def clear(self) -> None:
        await self._empty("hashtag_timeline", "mention_timeline")

    async def add_tag_rows(self, tag_key: str, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(tag_key, t.id, pack_tweet(t), ts) for t, ts in rows]
        await self.db.write("tag_write", lambda c: HASHTAGS.put(c, params))

    async def remove_tag_row(self, tag_key: str, tweet: Tweet, ts_us: int) -> None:
        await self.db.write(
            "tag_delete", lambda c: HASHTAGS.delete(c, [(tag_key, tweet.id, ts_us)])
        )

    async def tag_page(self, tag_key: str, query: PageQuery) -> list[Tweet]:
        sql = page_sql(HASHTAGS.name, "tag = ?")
        params = (tag_key, *query.bounds, query.count)
        rows = await self.db.read("tag_page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]

    async def add_mention_rows(self, user_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(user_id, t.id, pack_tweet(t), ts) for t, ts in rows]
        await self.db.write("mention_write", lambda c: MENTIONS.put(c, params))

    async def remove_mention_row(self, user_id: int, tweet_id: int, ts_us: int) -> None:
        params = [(user_id, tweet_id, ts_us)]
        await self.db.write("mention_delete", lambda c: MENTIONS.delete(c, params))

    async def mention_page(self, user_id: int, query: PageQuery) -> list[Tweet]:
        sql = page_sql(MENTIONS.name, "user_id = ?")
        params = (user_id, *query.bounds, query.count)
        rows = await self.db.read("page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]


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


class EmbeddedTrends(OnDb, TrendStore):
    """Per-minute hashtag counts, one row per minute and partition, and the tweets each row
    counted (trend_tweets), kept two days."""

    async def clear(self) -> None:
        await self._empty("trend_minutes", "trend_tweets")

    async def start(self) -> None:
        await super().start()
        await self.db.write("trends", _purge_trends)

    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        return await self.db.read("trends", lambda c: {k: _trend_row(c, k) for k in keys})

    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        expires = time.time() + TREND_TTL_S
        params = [
            (r.minute, r.log_partition, _pack_counts(r.counts), r.applied_offset, expires)
            for r in rows
        ]
        marks = [
            (r.minute, r.log_partition, tweet_id, t.delta, t.offset, expires)
            for r in rows
            for tweet_id, t in r.tweets.items()
        ]
        await self.db.write("trends", lambda c: _put_trends(c, params, marks))

    async def window(self, minutes: Sequence[int]) -> dict[str, int]:
        sql = "SELECT counts FROM trend_minutes WHERE minute = ? AND expires_s > ?"
        found = await self.db.read(
            "trends", lambda c: [r for m in minutes for r in fetch_all(c, sql, (m, time.time()))]
        )
        # summing may touch every tag of the day: a worker thread, not the event loop
        return await asyncio.to_thread(_sum_packed, [counts for (counts,) in found])


def _sum_packed(packed: list[bytes]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in packed:
        total.update(msgpack.unpackb(counts))
    return {tag: n for tag, n in total.items() if n > 0}


def _pack_counts(counts: dict[str, int]) -> bytes:
    return bytes(msgpack.packb({tag: n for tag, n in counts.items() if n}))


def _trend_row(conn: Conn, key: tuple[int, int]) -> TrendRow:
    now = time.time()
    row = fetch_one(
        conn,
        "SELECT counts, applied_offset FROM trend_minutes "
        "WHERE minute = ? AND log_partition = ? AND expires_s > ?",
        (*key, now),
    )
    marks = fetch_all(
        conn,
        "SELECT tweet_id, delta, applied_offset FROM trend_tweets "
        "WHERE minute = ? AND log_partition = ? AND expires_s > ?",
        (*key, now),
    )
    tweets = {tweet_id: TrendTweet(delta, offset) for tweet_id, delta, offset in marks}
    if row is None:
        return TrendRow(key[0], key[1], {}, tweets=tweets)
    return TrendRow(key[0], key[1], msgpack.unpackb(row[0]), row[1], tweets)


def _put_trends(conn: Conn, rows: list[tuple[Any, ...]], marks: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO trend_tweets "
        "(minute, log_partition, tweet_id, delta, applied_offset, expires_s) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        marks,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO trend_minutes "
        "(minute, log_partition, counts, applied_offset, expires_s) VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def _purge_trends(conn: Conn) -> None:
    now = time.time()
    conn.execute("DELETE FROM trend_minutes WHERE expires_s <= ?", (now,))
    conn.execute("DELETE FROM trend_tweets WHERE expires_s <= ?", (now,))


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
