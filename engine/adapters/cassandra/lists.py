"""Cassandra lists: the lists, members both ways, counts, list timelines and recent tweets.

Every write carries `USING TIMESTAMP` = the time the caller gives, so replays rewrite the
same cells. A list's member count and the offset of the last membership change applied
are static columns of its `list_members` partition: the member's row and the count change
in one single-partition batch, which Cassandra applies atomically and in isolation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from engine.adapters.cassandra.base import OnSession
from engine.events import pack_tweet, unpack_tweet
from engine.ports import ListCount, ListStore
from engine.records import PageQuery, Tweet, UserList, upper_bound

_PAGE = "SELECT body FROM {table} WHERE {key} = ? AND tweet_id <= ? AND tweet_id > ? LIMIT ?"
Statement = tuple[str, Sequence[Any]]


class CassandraListTables(OnSession):
    """Membership, counts, list timelines and authors' recent tweets (ListStore's tables)."""

    async def set_member(
        self,
        list_id: int,
        member_id: int,
        present: bool,
        ts_us: int,
        count: ListCount | None = None,
    ) -> None:
        if present:
            await self.cql.run(
                "INSERT INTO lists_by_member (member_id, list_id, joined_us) VALUES (?, ?, ?) "
                "USING TIMESTAMP ?",
                (member_id, list_id, ts_us, ts_us),
                op="list_member",
            )
            row: Statement = (
                "INSERT INTO list_members (list_id, member_id, joined_us) VALUES (?, ?, ?) "
                "USING TIMESTAMP ?",
                (list_id, member_id, ts_us, ts_us),
            )
        else:
            await self.cql.run(
                "DELETE FROM lists_by_member USING TIMESTAMP ? WHERE member_id = ? AND list_id = ?",
                (ts_us, member_id, list_id),
                op="list_member",
            )
            row = (
                "DELETE FROM list_members USING TIMESTAMP ? WHERE list_id = ? AND member_id = ?",
                (ts_us, list_id, member_id),
            )
        together = [row]
        if count is not None:
            together.append(
                (
                    "UPDATE list_members SET members = ?, applied_offset = ? WHERE list_id = ?",
                    (count.members, count.applied_offset, count.list_id),
                )
            )
        await self.cql.run_together(together, op="list_member")

    async def member_ids(self, list_id: int, limit: int | None = None) -> list[int]:
        if limit is None:
            rows = await self.cql.run(
                "SELECT member_id FROM list_members WHERE list_id = ?", (list_id,), op="lists"
            )
        else:
            rows = await self.cql.run(
                "SELECT member_id FROM list_members WHERE list_id = ? LIMIT ?",
                (list_id, limit + 1),  # a partition holding only its count answers one empty row
                op="lists",
            )
        ids = [r[0] for r in rows if r[0] is not None]
        return ids if limit is None else ids[:limit]

    async def member_page(self, list_id: int, limit: int, max_id: int | None = None) -> list[int]:
        rows = await self.cql.run(
            "SELECT member_id FROM list_members WHERE list_id = ? AND member_id <= ? "
            "ORDER BY member_id DESC LIMIT ?",
            (list_id, upper_bound(max_id), limit),
            op="lists",
        )
        return [r[0] for r in rows if r[0] is not None]

    async def member_count(self, list_id: int) -> ListCount:
        rows = await self.cql.run(
            "SELECT members, applied_offset FROM list_members WHERE list_id = ? LIMIT 1",
            (list_id,),
            op="list_count",
        )
        if not rows or rows[0][1] is None:
            return ListCount(list_id)
        return ListCount(list_id, rows[0][0] or 0, rows[0][1])

    async def joined_us(self, list_id: int, member_id: int) -> int | None:
        rows = await self.cql.run(
            "SELECT joined_us FROM list_members WHERE list_id = ? AND member_id = ?",
            (list_id, member_id),
            op="lists",
        )
        return int(rows[0][0] or 0) if rows else None

    async def lists_of(self, member_id: int) -> dict[int, int]:
        rows = await self.cql.run(
            "SELECT list_id, joined_us FROM lists_by_member WHERE member_id = ?",
            (member_id,),
            op="lists_of",
        )
        return {r[0]: r[1] or 0 for r in rows}

    async def add_list_rows(self, list_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        if rows:
            await self.cql.run_batch(
                "INSERT INTO list_timeline (list_id, tweet_id, author_id, body) "
                "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                [(list_id, t.id, t.author_id, pack_tweet(t), ts) for t, ts in rows],
                op="list_write",
            )

    async def remove_list_rows(self, list_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        if tweet_ids:
            await self.cql.run_batch(
                "DELETE FROM list_timeline USING TIMESTAMP ? WHERE list_id = ? AND tweet_id = ?",
                [(ts_us, list_id, tid) for tid in tweet_ids],
                op="list_delete",
            )

    async def list_authors(self, list_id: int) -> list[tuple[int, int]]:
        rows = await self.cql.run(
            "SELECT tweet_id, author_id FROM list_timeline WHERE list_id = ?",
            (list_id,),
            op="list_authors",
        )
        return [(r[0], r[1]) for r in rows]

    async def trim_list(self, list_id: int, keep: int) -> int:
        return await self._trim("list_timeline", "list_id", list_id, keep)

    async def list_page(self, list_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page("list_timeline", "list_id", list_id, query)

    async def put_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO list_author_tweets (author_id, tweet_id, body) VALUES (?, ?, ?) "
                    "USING TIMESTAMP ?",
                    (tweet.author_id, tweet.id, pack_tweet(tweet), ts),
                    op="recent_write",
                )
                for tweet, ts in zip(tweets, ts_us, strict=True)
            )
        )

    async def delete_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "DELETE FROM list_author_tweets USING TIMESTAMP ? "
                    "WHERE author_id = ? AND tweet_id = ?",
                    (ts, tweet.author_id, tweet.id),
                    op="recent_delete",
                )
                for tweet, ts in zip(tweets, ts_us, strict=True)
            )
        )

    async def recent(self, author_id: int, count: int) -> list[Tweet]:
        return await self._page("list_author_tweets", "author_id", author_id, PageQuery(count))

    async def trim_recent(self, author_id: int, keep: int) -> int:
        return await self._trim("list_author_tweets", "author_id", author_id, keep)

    async def _trim(self, table: str, key: str, value: int, keep: int) -> int:
        """One range tombstone at now over the rows beyond the newest `keep`."""
        rows = await self.cql.run(
            f"SELECT tweet_id FROM {table} WHERE {key} = ? LIMIT ?",
            (value, keep + 1),
            op="list_trim",
        )
        if len(rows) <= keep:
            return 0
        await self.cql.run(
            f"DELETE FROM {table} WHERE {key} = ? AND tweet_id <= ?",
            (value, rows[keep][0]),
            op="list_trim",
        )
        return 1

    async def _page(self, table: str, key: str, value: int, query: PageQuery) -> list[Tweet]:
        rows = await self.cql.run(
            _PAGE.format(table=table, key=key), (value, *query.bounds, query.count), op="page"
        )
        return [unpack_tweet(r[0]) for r in rows]


class CassandraLists(CassandraListTables, ListStore):
    """Lists, and (in CassandraListTables) members in both directions and list timelines."""

    async def clear(self) -> None:
        await self._truncate(
            "lists", "list_members", "lists_by_member", "list_timeline", "list_author_tweets"
        )

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
