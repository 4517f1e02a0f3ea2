"""Cassandra adapter for the hashtag and mention indexes, hashtags bucketed by day."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.adapters.cassandra.base import OnSession
from engine.events import (
    pack_tweet,
    unpack_tweet,
)
from engine.ids import MAX_ID, id_ms
from engine.ports import (
    IndexStore,
)
from engine.records import PageQuery, Tweet

DAY_MS = 86_400_000
MAX_TAG_DAYS = 3650


class CassandraIndex(OnSession, IndexStore):
    """Hashtag timelines bucketed by UTC day, and mention timelines."""

    async def clear(self) -> None:
        await self._truncate("hashtag_timeline", "hashtag_days", "mention_timeline")

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
        upper, lower = query.bounds
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
        upper, lower = query.bounds
        rows = await self.cql.run(
            "SELECT body FROM mention_timeline WHERE user_id = ? AND tweet_id <= ? "
            "AND tweet_id > ? LIMIT ?",
            (user_id, upper, lower, query.count),
            op="page",
        )
        return [unpack_tweet(r[0]) for r in rows]
