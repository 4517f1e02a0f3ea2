"""Cassandra adapter for trends: per-minute hashtag counts and the tweets behind them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from engine.adapters.cassandra.base import OnSession
from engine.ports import (
    TrendRow,
    TrendStore,
    TrendTweet,
)

TREND_TWEETS_BATCH = 100  # rows of one partition per unlogged batch, well under its limit


class CassandraTrends(OnSession, TrendStore):
    """Per-minute hashtag counts, one row per minute and partition, and the tweets each row
    counted (trend_tweets, one partition per row)."""

    async def clear(self) -> None:
        await self._truncate("trend_minutes", "trend_tweets")

    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        found = await asyncio.gather(*(self._row(key) for key in keys))
        return dict(zip(keys, found, strict=True))

    async def _row(self, key: tuple[int, int]) -> TrendRow:
        row, marks = await asyncio.gather(
            self.cql.run(
                "SELECT counts, applied_offset FROM trend_minutes "
                "WHERE minute = ? AND log_partition = ?",
                key,
                op="trends",
            ),
            self.cql.run(
                "SELECT tweet_id, delta, applied_offset FROM trend_tweets "
                "WHERE minute = ? AND log_partition = ?",
                key,
                op="trends",
            ),
        )
        tweets = {tweet_id: TrendTweet(delta, offset) for tweet_id, delta, offset in marks}
        if not row:
            return TrendRow(key[0], key[1], {}, tweets=tweets)
        return TrendRow(key[0], key[1], dict(row[0][0] or {}), row[0][1], tweets)

    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        await asyncio.gather(*(self._put_row(r) for r in rows))

    async def _put_row(self, r: TrendRow) -> None:
        marks = [(r.minute, r.log_partition, t, m.delta, m.offset) for t, m in r.tweets.items()]
        await asyncio.gather(  # first: a row's offset never covers a tweet it does not hold
            *(
                self.cql.run_batch(
                    "INSERT INTO trend_tweets (minute, log_partition, tweet_id, delta, "
                    "applied_offset) VALUES (?, ?, ?, ?, ?)",
                    marks[start : start + TREND_TWEETS_BATCH],
                    op="trends",
                )
                for start in range(0, len(marks), TREND_TWEETS_BATCH)
            )
        )
        await self.cql.run(
            "INSERT INTO trend_minutes (minute, log_partition, counts, applied_offset) "
            "VALUES (?, ?, ?, ?)",
            (r.minute, r.log_partition, {k: v for k, v in r.counts.items() if v}, r.applied_offset),
            op="trends",
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
