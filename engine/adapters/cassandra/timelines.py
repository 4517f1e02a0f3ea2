"""Cassandra adapter for the tweet store and the user and home timelines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from engine.adapters.cassandra.base import OnSession
from engine.adapters.cassandra.session import ROW_OVERHEAD, Write
from engine.events import pack_tweet, unpack_tweet
from engine.ports import HomeRow, TimelineStore
from engine.records import PageQuery, Tweet

_PUT_TWEET = "INSERT INTO tweets (tweet_id, author_id, body) VALUES (?, ?, ?) USING TIMESTAMP ?"
_PUT_USER_ROW = (
    "INSERT INTO user_timeline (user_id, tweet_id, body) VALUES (?, ?, ?) USING TIMESTAMP ?"
)
_PUT_HOME_ROW = (
    "INSERT INTO home_timeline (user_id, tweet_id, author_id) VALUES (?, ?, ?) USING TIMESTAMP ?"
)
_DELETE_TWEET = "DELETE FROM tweets USING TIMESTAMP ? WHERE tweet_id = ?"
_DELETE_USER_ROW = "DELETE FROM user_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?"
_DELETE_HOME_ROW = "DELETE FROM home_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?"

_PAGE = "SELECT body FROM {table} WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT ?"
_HOME_ROWS = (
    "SELECT tweet_id, author_id, body FROM home_timeline "
    "WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT ?"
)


class CassandraTimelines(OnSession, TimelineStore):
    """The tweet store and the user and home timelines."""

    async def clear(self) -> None:
        await self._truncate("tweets", "user_timeline", "home_timeline", "celebrities")

    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        def writes() -> Iterator[Write]:
            for tweet, ts in zip(tweets, ts_us, strict=True):
                body = pack_tweet(tweet)
                size = len(body) + ROW_OVERHEAD
                yield _PUT_TWEET, (tweet.id, tweet.author_id, body, ts), size
                yield _PUT_USER_ROW, (tweet.author_id, tweet.id, body, ts), size

        await self.cql.write_grouped(writes(), op="put_tweet")

    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        rows = await self.cql.run(
            "SELECT body FROM tweets WHERE tweet_id = ?", (tweet_id,), op="get_tweet"
        )
        return unpack_tweet(rows[0][0]) if rows else None

    async def put_home_rows(self, rows: Sequence[tuple[int, Tweet, int]]) -> None:
        """Ids only: readers make pages whole from their tweet cache and the tweet store."""
        await self.cql.write_grouped(
            (
                (_PUT_HOME_ROW, (owner, tweet.id, tweet.author_id, ts), ROW_OVERHEAD)
                for owner, tweet, ts in rows
            ),
            op="home_write",
        )

    async def remove_home_rows_many(self, rows: Sequence[tuple[int, int, int]]) -> None:
        await self.cql.write_grouped(
            ((_DELETE_HOME_ROW, (ts, owner, tid), ROW_OVERHEAD) for owner, tid, ts in rows),
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

    async def home_rows(self, owner_id: int, query: PageQuery) -> list[HomeRow]:
        rows = await self.cql.read(_HOME_ROWS, (owner_id, *query.bounds, query.count), op="page")
        return [HomeRow(r[0], r[1], r[2]) for r in rows]

    async def get_tweets(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        if not tweet_ids:
            return {}
        rows = await self.cql.run(
            "SELECT tweet_id, body FROM tweets WHERE tweet_id IN ?",
            (list(dict.fromkeys(tweet_ids)),),
            op="get_tweets",
        )
        return {r[0]: unpack_tweet(r[1]) for r in rows}

    async def user_page(self, author_id: int, query: PageQuery, op: str = "page") -> list[Tweet]:
        return await self._page("user_timeline", author_id, query, op)

    async def _page(
        self, table: str, owner_id: int, query: PageQuery, op: str = "page"
    ) -> list[Tweet]:
        rows = await self.cql.read(
            _PAGE.format(table=table), (owner_id, *query.bounds, query.count), op=op
        )
        return [unpack_tweet(r[0]) for r in rows]

    async def delete_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        def writes() -> Iterator[Write]:
            for tweet, ts in zip(tweets, ts_us, strict=True):
                yield _DELETE_TWEET, (ts, tweet.id), ROW_OVERHEAD
                yield _DELETE_USER_ROW, (ts, tweet.author_id, tweet.id), ROW_OVERHEAD

        await self.cql.write_grouped(writes(), op="delete_tweet")

    async def mark_celebrity(self, author_id: int) -> None:
        await self.cql.run(
            "INSERT INTO celebrities (shard, author_id) VALUES (0, ?)", (author_id,), op="celeb"
        )

    async def celebrities(self) -> set[int]:
        rows = await self.cql.run("SELECT author_id FROM celebrities WHERE shard = 0", op="celeb")
        return {r[0] for r in rows}
