"""The embedded lists: the lists, members both ways, counts, list timelines and recent tweets.

The tables of schemas/cql/005_list_timelines.cql on the shared store file, with the rules of
lww: every row carries its write time, the newest write wins, deletes leave tombstones,
and a trim is a range tombstone kept in a trims table. Cassandra keeps a list's count in
static columns of its `list_members` partition; here it is the `list_counts` row, written in
the same transaction as the member's row, so the two never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import (
    Conn,
    decode_tweet,
    fetch_all,
    fetch_one,
    page_sql,
)
from engine.events import pack_tweet
from engine.ports import ListCount, ListStore
from engine.records import PageQuery, Tweet, UserList, upper_bound

LIST_MEMBERS = Table("list_members", ("list_id", "member_id"))
LISTS_BY_MEMBER = Table("lists_by_member", ("member_id", "list_id"))
LIST_TIMELINE = Table(
    "list_timeline",
    ("list_id", "tweet_id"),
    ("author_id", "body"),
    trimmed=True,
    trims="list_trims",
)
RECENT = Table(
    "list_author_tweets",
    ("author_id", "tweet_id"),
    ("body",),
    trimmed=True,
    trims="list_author_trims",
)


class EmbeddedListTables(OnDb):
    """Membership, counts, list timelines and authors' recent tweets (ListStore's tables)."""

    async def set_member(
        self,
        list_id: int,
        member_id: int,
        present: bool,
        ts_us: int,
        count: ListCount | None = None,
    ) -> None:
        await self.db.write(
            "list_member", lambda c: _set_member(c, list_id, member_id, present, ts_us, count)
        )

    async def member_ids(self, list_id: int, limit: int | None = None) -> list[int]:
        sql = "SELECT member_id FROM list_members WHERE list_id = ? ORDER BY member_id LIMIT ?"
        params = (list_id, -1 if limit is None else limit)
        rows = await self.db.read("list_members", lambda c: fetch_all(c, sql, params))
        return [r[0] for r in rows]

    async def member_page(self, list_id: int, limit: int, max_id: int | None = None) -> list[int]:
        sql = (
            "SELECT member_id FROM list_members WHERE list_id = ? AND member_id <= ? "
            "ORDER BY member_id DESC LIMIT ?"
        )
        params = (list_id, upper_bound(max_id), limit)
        rows = await self.db.read("list_members", lambda c: fetch_all(c, sql, params))
        return [r[0] for r in rows]

    async def member_count(self, list_id: int) -> ListCount:
        sql = "SELECT members, applied_offset FROM list_counts WHERE list_id = ?"
        row = await self.db.read("list_count", lambda c: fetch_one(c, sql, (list_id,)))
        return ListCount(list_id, row[0], row[1]) if row else ListCount(list_id)

    async def joined_us(self, list_id: int, member_id: int) -> int | None:
        sql = "SELECT ts FROM list_members WHERE list_id = ? AND member_id = ?"
        row = await self.db.read("list_members", lambda c: fetch_one(c, sql, (list_id, member_id)))
        return int(row[0]) if row else None

    async def lists_of(self, member_id: int) -> dict[int, int]:
        sql = "SELECT list_id, ts FROM lists_by_member WHERE member_id = ?"
        rows = await self.db.read("lists_of", lambda c: fetch_all(c, sql, (member_id,)))
        return {r[0]: r[1] for r in rows}

    async def add_list_rows(self, list_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(list_id, t.id, t.author_id, pack_tweet(t), ts) for t, ts in rows]
        if params:
            await self.db.write("list_write", lambda c: LIST_TIMELINE.put(c, params))

    async def remove_list_rows(self, list_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        params = [(list_id, tid, ts_us) for tid in tweet_ids]
        if params:
            await self.db.write("list_delete", lambda c: LIST_TIMELINE.delete(c, params))

    async def list_authors(self, list_id: int) -> list[tuple[int, int]]:
        sql = "SELECT tweet_id, author_id FROM list_timeline WHERE list_id = ?"
        rows = await self.db.read("list_authors", lambda c: fetch_all(c, sql, (list_id,)))
        return [(r[0], r[1]) for r in rows]

    async def trim_list(self, list_id: int, keep: int) -> int:
        return await self.db.write("list_trim", lambda c: trim(c, LIST_TIMELINE, list_id, keep))

    async def list_page(self, list_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page(LIST_TIMELINE, list_id, query)

    async def put_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        params = [
            (t.author_id, t.id, pack_tweet(t), ts) for t, ts in zip(tweets, ts_us, strict=True)
        ]
        if params:
            await self.db.write("recent_write", lambda c: RECENT.put(c, params))

    async def delete_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        params = [(t.author_id, t.id, ts) for t, ts in zip(tweets, ts_us, strict=True)]
        if params:
            await self.db.write("recent_delete", lambda c: RECENT.delete(c, params))

    async def recent(self, author_id: int, count: int) -> list[Tweet]:
        return await self._page(RECENT, author_id, PageQuery(count))

    async def trim_recent(self, author_id: int, keep: int) -> int:
        return await self.db.write("recent_trim", lambda c: trim(c, RECENT, author_id, keep))

    async def _page(self, table: Table, key: int, query: PageQuery) -> list[Tweet]:
        first, second = table.keys
        sql = page_sql(table.name, f"{first} = ?", second)
        params = (key, *query.bounds, query.count)
        rows = await self.db.read("page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]


def _set_member(
    conn: Conn, list_id: int, member_id: int, present: bool, ts: int, count: ListCount | None
) -> None:
    if present:
        LISTS_BY_MEMBER.put(conn, [(member_id, list_id, ts)])
        LIST_MEMBERS.put(conn, [(list_id, member_id, ts)])
    else:
        LISTS_BY_MEMBER.delete(conn, [(member_id, list_id, ts)])
        LIST_MEMBERS.delete(conn, [(list_id, member_id, ts)])
    if count is not None:
        conn.execute(
            "INSERT OR REPLACE INTO list_counts (list_id, members, applied_offset) "
            "VALUES (?, ?, ?)",
            (count.list_id, count.members, count.applied_offset),
        )


def trim(conn: Conn, table: Table, key: int, keep: int) -> int:
    """Cassandra's trim: one range tombstone at now over the rows beyond the newest `keep`."""
    first, second = table.keys
    row = fetch_one(
        conn,
        f"SELECT {second} FROM {table.name} WHERE {first} = ? ORDER BY {second} DESC "
        "LIMIT 1 OFFSET ?",
        (key, keep),
    )
    if row is None:
        return 0
    params = (key, row[0], time.time_ns() // 1000)
    run = conn.execute
    run(f"DELETE FROM {table.name} WHERE {first} = ?1 AND {second} <= ?2 AND ts <= ?3", params)
    run(
        f"DELETE FROM tombstones WHERE tbl = '{table.name}' AND k1 = ?1 AND k2 <= ?2 AND ts <= ?3",
        params,
    )
    run(f"DELETE FROM {table.trims} WHERE {first} = ?1 AND bound <= ?2 AND ts <= ?3", params)
    run(f"INSERT OR REPLACE INTO {table.trims} ({first}, bound, ts) VALUES (?1, ?2, ?3)", params)
    return 1


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
