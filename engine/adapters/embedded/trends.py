"""The embedded trends: per-minute hashtag counts and the tweets behind them, kept two days."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgpack

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.rows import (
    Conn,
    fetch_all,
    fetch_one,
)
from engine.ports import (
    TrendRow,
    TrendStore,
    TrendTweet,
)

TREND_TTL_S = 172_800  # trend_minutes' default_time_to_live


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
