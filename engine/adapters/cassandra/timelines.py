"""Cassandra adapter for the tweet store and the user and home timelines."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.adapters.cassandra.base import OnSession
from engine.events import pack_tweet, unpack_tweet
from engine.ports import (
    TimelineStore,
)
from engine.records import PageQuery, Tweet

HOME_ROWS_PER_BATCH = 50  # home rows per unlogged batch: well under Cassandra's 50 KiB limit

_PAGE = "SELECT body FROM {table} WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT ?"


class CassandraTimelines(OnSession, TimelineStore):
    """The tweet store and the user and home timelines."""

    async def clear(self) -> None:
        await self._truncate("tweets", "user_timeline", "home_timeline", "celebrities")

    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        writes = []
        for tweet, ts in zip(tweets, ts_us, strict=True):
            body = pack_tweet(tweet)
            writes.append(
                self.cql.run(
                    "INSERT INTO tweets (tweet_id, author_id, body) VALUES (?, ?, ?) "
                    "USING TIMESTAMP ?",
                    (tweet.id, tweet.author_id, body, ts),
                    op="put_tweet",
                )
            )
            writes.append(
                self.cql.run(
                    "INSERT INTO user_timeline (user_id, tweet_id, body) VALUES (?, ?, ?) "
                    "USING TIMESTAMP ?",
                    (tweet.author_id, tweet.id, body, ts),
                    op="put_tweet",
                )
            )
        await asyncio.gather(*writes)

    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        rows = await self.cql.run(
            "SELECT body FROM tweets WHERE tweet_id = ?", (tweet_id,), op="get_tweet"
        )
        return unpack_tweet(rows[0][0]) if rows else None

    async def add_home_rows(self, owner_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(owner_id, t.id, t.author_id, pack_tweet(t), ts) for t, ts in rows]
        await asyncio.gather(
            *(
                self.cql.run_batch(
                    "INSERT INTO home_timeline (user_id, tweet_id, author_id, body) "
                    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                    params[i : i + HOME_ROWS_PER_BATCH],
                    op="home_write",
                )
                for i in range(0, len(params), HOME_ROWS_PER_BATCH)
            )
        )

    async def remove_home_rows(self, owner_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        if tweet_ids:
            await self.cql.run_batch(
                "DELETE FROM home_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?",
                [(ts_us, owner_id, tid) for tid in tweet_ids],
                op="home_delete",
            )

    async def home_authors(self, owner_id: int) -> list[tuple[int, int]]:
        rows = await self.cql.run(
            "SELECT tweet_id, author_id FROM home_timeline WHERE user_id = ? LIMIT ?",
            (owner_id, self.home_authors_limit),
            op="home_authors",
        )
        return [(r[0], r[1]) for r in rows]

    async def trim_home(self, owner_id: int, keep: int) -> int:
        rows = await self.cql.run(
            "SELECT tweet_id FROM home_timeline WHERE user_id = ? LIMIT ?",
            (owner_id, keep + 1),
            op="home_trim",
        )
        if len(rows) <= keep:
            return 0
        await self.cql.run(
            "DELETE FROM home_timeline WHERE user_id = ? AND tweet_id <= ?",
            (owner_id, rows[keep][0]),
            op="home_trim",
        )
        return 1

    async def home_page(self, owner_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page("home_timeline", owner_id, query)

    async def user_page(self, author_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page("user_timeline", author_id, query)

    async def _page(self, table: str, owner_id: int, query: PageQuery) -> list[Tweet]:
        rows = await self.cql.run(
            _PAGE.format(table=table), (owner_id, *query.bounds, query.count), op="page"
        )
        return [unpack_tweet(r[0]) for r in rows]

    async def delete_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        writes = []
        for tweet, ts in zip(tweets, ts_us, strict=True):
            writes.append(
                self.cql.run(
                    "DELETE FROM tweets USING TIMESTAMP ? WHERE tweet_id = ?",
                    (ts, tweet.id),
                    op="delete_tweet",
                )
            )
            writes.append(
                self.cql.run(
                    "DELETE FROM user_timeline USING TIMESTAMP ? "
                    "WHERE user_id = ? AND tweet_id = ?",
                    (ts, tweet.author_id, tweet.id),
                    op="delete_tweet",
                )
            )
        await asyncio.gather(*writes)

    async def mark_celebrity(self, author_id: int) -> None:
        await self.cql.run(
            "INSERT INTO celebrities (shard, author_id) VALUES (0, ?)", (author_id,), op="celeb"
        )

    async def celebrities(self) -> set[int]:
        rows = await self.cql.run("SELECT author_id FROM celebrities WHERE shard = 0", op="celeb")
        return {r[0] for r in rows}
