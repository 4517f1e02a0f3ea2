"""Row helpers every embedded adapter shares: queries, the decoded-tweet cache, clocks."""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from engine.events import unpack_tweet
from engine.records import Tweet

Conn = sqlite3.Connection
Rows = Sequence[tuple[Any, ...]]
IN_CHUNK = 500  # keys per IN (...) query
SCAN_PAGE = 5000  # rows per page of a whole-table scan
DECODED_TWEETS = 8192  # frozen Tweets shared by every page that shows them


def page_sql(table: str, where: str, column: str = "tweet_id") -> str:
    """The SELECT of one page of bodies: `where`, then PageQuery.bounds and its count as
    parameters, newest first."""
    return (
        f"SELECT body FROM {table} WHERE {where} AND {column} <= ? AND {column} > ? "
        f"ORDER BY {column} DESC LIMIT ?"
    )


def now_us() -> int:
    """The wall clock in microseconds, the unit of every row's write time."""
    return time.time_ns() // 1000


@functools.lru_cache(maxsize=DECODED_TWEETS)
def decode_tweet(body: bytes) -> Tweet:
    """A stored tweet body as a Tweet; a body in many home timelines is decoded once."""
    return unpack_tweet(body)


def fetch_all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row of a query."""
    return conn.execute(sql, params).fetchall()


def fetch_one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row of a query, or None."""
    rows = fetch_all(conn, sql, params)
    return rows[0] if rows else None


def add_columns(conn: Conn, table: str, columns: dict[str, str]) -> None:
    """Add the columns a table made by an older version lacks (name -> SQLite type)."""
    have = {row[1] for row in fetch_all(conn, f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
