"""The embedded tweet store and user and home timelines, home timelines trimmed by range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import TRIMMED, Table
from engine.adapters.embedded.rows import (
    IN_CHUNK,
    Conn,
    decode_tweet,
    fetch_all,
    fetch_one,
    now_us,
    page_sql,
)
from engine.events import pack_tweet
from engine.ports import HomeRow, TimelineStore
from engine.records import PageQuery, Tweet

TWEETS = Table("tweets", ("tweet_id",), ("author_id", "body"))
USER_TIMELINE = Table("user_timeline", ("user_id", "tweet_id"), ("body",))
HOME = Table(TRIMMED, ("user_id", "tweet_id"), ("author_id", "body"), trimmed=True)
_HOME_ROWS = (
    "SELECT tweet_id, author_id, body FROM home_timeline WHERE user_id = ? AND tweet_id <= ? "
    "AND tweet_id > ? ORDER BY tweet_id DESC LIMIT ?"
)


class EmbeddedTimelines(OnDb, TimelineStore):
    """The tweet store and the user and home timelines."""

    async def clear(self) -> None:
        await self._empty("tweets", "user_timeline", "home_timeline", "celebrities")

    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        rows = [(t, pack_tweet(t), ts) for t, ts in zip(tweets, ts_us, strict=True)]
        if rows:
            await self.db.write("put_tweet", lambda c: _put_tweets(c, rows))

    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        row = await self.db.read(
            "get_tweet",
            lambda c: fetch_one(c, "SELECT body FROM tweets WHERE tweet_id = ?", (tweet_id,)),
        )
        return decode_tweet(row[0]) if row else None

    async def put_home_rows(self, rows: Sequence[tuple[int, Tweet, int]]) -> None:
        """Ids only: readers make pages whole from their tweet cache and the tweet store."""
        params = [(owner, tweet.id, tweet.author_id, b"", ts) for owner, tweet, ts in rows]
        if params:
            await self.db.write("home_write", lambda c: HOME.put(c, params))

    async def remove_home_rows_many(self, rows: Sequence[tuple[int, int, int]]) -> None:
        if rows:
            await self.db.write("home_delete", lambda c: HOME.delete(c, list(rows)))

    async def home_authors(self, owner_id: int) -> list[tuple[int, int]]:
        sql = (
            "SELECT tweet_id, author_id FROM home_timeline WHERE user_id = ? "
            "ORDER BY tweet_id DESC LIMIT ?"
        )
        params = (owner_id, self.home_authors_limit)
        rows = await self.db.read("home_authors", lambda c: fetch_all(c, sql, params))
        return [(r[0], r[1]) for r in rows]

    async def trim_home(self, owner_id: int, keep: int) -> int:
        return await self.db.write("home_trim", lambda c: _trim(c, owner_id, keep))

    async def home_rows(self, owner_id: int, query: PageQuery) -> list[HomeRow]:
        params = (owner_id, *query.bounds, query.count)
        rows = await self.db.read("page", lambda c: fetch_all(c, _HOME_ROWS, params))
        return [HomeRow(r[0], r[1], r[2] or None) for r in rows]  # b"": a row of ids only

    async def get_tweets(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        ids = list(dict.fromkeys(tweet_ids))
        if not ids:
            return {}
        rows = await self.db.read("get_tweets", lambda c: _get_tweets(c, ids))
        return {r[0]: decode_tweet(r[1]) for r in rows}

    async def user_page(self, author_id: int, query: PageQuery, op: str = "page") -> list[Tweet]:
        return await self._page("user_timeline", author_id, query, op)

    async def _page(
        self, table: str, owner_id: int, query: PageQuery, op: str = "page"
    ) -> list[Tweet]:
        sql = page_sql(table, "user_id = ?")
        params = (owner_id, *query.bounds, query.count)
        rows = await self.db.read(op, lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]

    async def delete_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        rows = list(zip(tweets, ts_us, strict=True))
        if rows:
            await self.db.write("delete_tweet", lambda c: _delete_tweets(c, rows))

    async def mark_celebrity(self, author_id: int) -> None:
        await self.db.write(
            "celeb",
            lambda c: c.execute(
                "INSERT OR IGNORE INTO celebrities (author_id) VALUES (?)", (author_id,)
            ),
        )

    async def celebrities(self) -> set[int]:
        rows = await self.db.read(
            "celeb", lambda c: fetch_all(c, "SELECT author_id FROM celebrities")
        )
        return {r[0] for r in rows}


def _get_tweets(conn: Conn, ids: list[int]) -> list[Any]:
    rows = []
    for first in range(0, len(ids), IN_CHUNK):
        chunk = ids[first : first + IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT tweet_id, body FROM tweets WHERE tweet_id IN ({marks})"
        rows += fetch_all(conn, sql, chunk)
    return rows


def _put_tweets(conn: Conn, rows: list[tuple[Tweet, bytes, int]]) -> None:
    TWEETS.put(conn, [(t.id, t.author_id, body, ts) for t, body, ts in rows])
    USER_TIMELINE.put(conn, [(t.author_id, t.id, body, ts) for t, body, ts in rows])


def _delete_tweets(conn: Conn, rows: list[tuple[Tweet, int]]) -> None:
    TWEETS.delete(conn, [(t.id, ts) for t, ts in rows])
    USER_TIMELINE.delete(conn, [(t.author_id, t.id, ts) for t, ts in rows])


def _trim(conn: Conn, owner_id: int, keep: int) -> int:
    """Cassandra's trim: one range tombstone at now over the rows beyond the newest `keep`."""
    row = fetch_one(
        conn,
        "SELECT tweet_id FROM home_timeline WHERE user_id = ? ORDER BY tweet_id DESC "
        "LIMIT 1 OFFSET ?",
        (owner_id, keep),
    )
    if row is None:
        return 0
    params = (owner_id, row[0], now_us())
    conn.execute(
        "DELETE FROM home_timeline WHERE user_id = ?1 AND tweet_id <= ?2 AND ts <= ?3", params
    )
    # Tombstones and trims this one covers can go: it blocks everything they blocked.
    conn.execute(
        "DELETE FROM tombstones WHERE tbl = 'home_timeline' AND k1 = ?1 AND k2 <= ?2 AND ts <= ?3",
        params,
    )
    conn.execute("DELETE FROM home_trims WHERE user_id = ?1 AND bound <= ?2 AND ts <= ?3", params)
    conn.execute(
        "INSERT OR REPLACE INTO home_trims (user_id, bound, ts) VALUES (?1, ?2, ?3)", params
    )
    return 1
