"""Search on the embedded store: an SQLite FTS5 table over each tweet's terms.

`search_tweets` is an FTS5 table whose rowid is the tweet id; it indexes the tweet's terms
(folded by the engine, engine/terms.py, joined by spaces) with the unicode61 tokenizer, and
keeps the tweet body and its event time unindexed. `_`, `#` and `@` are token characters, so
a word, `#tag` and `@<user id>` stay one token each, and diacritics are kept (`й` is not `и`).
A query is every term as a quoted phrase joined by AND; FTS5 walks its doclists in rowid
order, so `ORDER BY rowid DESC` with the cursor bounds is a page newest first without a sort.

Writes follow the rules of lww: the newest event time wins, and a delete leaves a
tombstone (in the shared `tombstones` table) that keeps any write at or before its time out.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.rows import (
    Conn,
    decode_tweet,
    fetch_all,
)
from engine.events import pack_tweet
from engine.ports import SearchEntry, SearchIndex
from engine.records import PageQuery, Tweet

_TOMBSTONED = (
    "EXISTS (SELECT 1 FROM tombstones WHERE tbl = 'search_tweets' AND k1 = ?1 AND k2 = '' "
    "AND ts >= ?4)"
)
_DROP_OLDER = f"DELETE FROM search_tweets WHERE rowid = ?1 AND ts < ?4 AND NOT {_TOMBSTONED}"
_INSERT = (
    "INSERT INTO search_tweets (rowid, terms, body, ts) SELECT ?1, ?2, ?3, ?4 "
    f"WHERE NOT EXISTS (SELECT 1 FROM search_tweets WHERE rowid = ?1) AND NOT {_TOMBSTONED}"
)
_REMOVE = "DELETE FROM search_tweets WHERE rowid = ?1 AND ts <= ?2"
_TOMBSTONE = (
    "INSERT INTO tombstones (tbl, k1, k2, ts) VALUES ('search_tweets', ?1, '', ?2) "
    "ON CONFLICT (tbl, k1, k2) DO UPDATE SET ts = max(ts, excluded.ts)"
)
_PAGE = (
    "SELECT body FROM search_tweets WHERE search_tweets MATCH ? AND rowid <= ? AND rowid > ? "
    "ORDER BY rowid DESC LIMIT ?"
)


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query for rows holding every term, each a quoted phrase."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


class EmbeddedSearch(OnDb, SearchIndex):
    """Tweets by term in one FTS5 table, newest first."""

    async def clear(self) -> None:
        await self._empty("search_tweets")

    async def add(self, entries: Sequence[SearchEntry]) -> None:
        rows = [(e.tweet.id, " ".join(e.terms), pack_tweet(e.tweet), e.ts_us) for e in entries]
        if rows:
            await self.db.write("search_write", lambda c: _add(c, rows))

    async def remove(self, tweets: Sequence[tuple[Tweet, int]]) -> None:
        rows = [(t.id, ts) for t, ts in tweets]
        if rows:
            await self.db.write("search_delete", lambda c: _remove(c, rows))

    async def search(self, terms: Sequence[str], query: PageQuery) -> list[Tweet]:
        if not terms:
            return []
        params = (match_expression(terms), *query.bounds, query.count)
        rows = await self.db.read("search_page", lambda c: fetch_all(c, _PAGE, params))
        return [decode_tweet(r[0]) for r in rows]


def _add(conn: Conn, rows: list[tuple[int, str, bytes, int]]) -> None:
    """Replace older rows of these tweets, then insert where no row or tombstone is as new."""
    conn.executemany(_DROP_OLDER, rows)
    conn.executemany(_INSERT, rows)


def _remove(conn: Conn, rows: list[tuple[int, int]]) -> None:
    conn.executemany(_REMOVE, rows)
    conn.executemany(_TOMBSTONE, rows)
