"""Search on Cassandra: a Storage-Attached Index over each tweet's terms, walked newest first.

schemas/cql/003_search.cql keeps one row per tweet in one partition per UTC hour, clustered
newest first, with an SAI index on the values of its `terms` set. Within one partition SAI
answers `terms CONTAINS ? AND ...` in clustering order, so a page of a common query is the
newest hour or two. SAI cannot order across partitions, so a page walks the hours newest
first, a few more at a time while they come back short. A rare query would walk every hour
for a handful of rows; so when the newest hour does not fill the page, one read across every
partition (no order, keys only, at most RARE_LIMIT rows) tells whether the query is rare: if
it returns fewer, those keys are every match and the page is read from them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from itertools import groupby

from engine.adapters.cassandra import OnSession
from engine.events import pack_tweet, unpack_tweet
from engine.ids import MAX_ID, id_ms, min_id_for_ms
from engine.ports import SearchEntry, SearchIndex
from engine.records import PageQuery, Tweet

BUCKET_MS = 3_600_000  # one partition per UTC hour
BUCKETS_READ = 64  # hours listed per read of search_buckets
MAX_ROUND = 16  # hours read at once while walking
RARE_LIMIT = 1000  # fewer matches than this across every hour: answer from the keys


def bucket_of(tweet_id: int) -> int:
    """The hour a tweet's row is in."""
    return id_ms(tweet_id) // BUCKET_MS


class CassandraSearch(OnSession, SearchIndex):
    """Tweets by term in hourly partitions, through one SAI index."""

    async def add(self, entries: Sequence[SearchEntry]) -> None:
        buckets = {bucket_of(e.tweet.id) for e in entries}
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO search_buckets (shard, bucket) VALUES (0, ?)", (b,), op="search"
                )
                for b in buckets
            ),
            *(
                self.cql.run(
                    "INSERT INTO search_tweets (bucket, tweet_id, terms, body) "
                    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                    (bucket_of(e.tweet.id), e.tweet.id, set(e.terms), pack_tweet(e.tweet), e.ts_us),
                    op="search_write",
                )
                for e in entries
            ),
        )

    async def remove(self, tweets: Sequence[tuple[Tweet, int]]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "DELETE FROM search_tweets USING TIMESTAMP ? WHERE bucket = ? AND tweet_id = ?",
                    (ts, bucket_of(t.id), t.id),
                    op="search_delete",
                )
                for t, ts in tweets
            )
        )

    async def search(self, terms: Sequence[str], query: PageQuery) -> list[Tweet]:
        if not terms:
            return []
        upper = MAX_ID if query.max_id is None else query.max_id
        lower = -1 if query.since_id is None else query.since_id
        match = " AND ".join(["terms CONTAINS ?"] * len(terms))
        found: list[Tweet] = []
        walked = 0
        async for hours in self._rounds(upper, lower):
            pages = await asyncio.gather(
                *(
                    self._hour(h, match, terms, upper, lower, query.count - len(found))
                    for h in hours
                )
            )
            found += [t for page in pages for t in page]
            walked += len(hours)
            if len(found) >= query.count:
                break
            if walked == 1:
                rare = await self._rare(match, terms, min(upper, _below(hours[-1])), lower)
                if rare is not None:
                    return found + await self._bodies(rare[: query.count - len(found)])
        return found[: query.count]

    async def _rounds(self, upper: int, lower: int) -> AsyncIterator[list[int]]:
        """The hours that may hold ids in (lower, upper], newest first, in growing rounds."""
        top = bucket_of(upper) if upper != MAX_ID else 2**31 - 1
        bottom = bucket_of(lower) if lower > 0 else -1
        width, pending = 1, list[int]()
        while True:
            if len(pending) < width and top >= bottom:
                rows = await self.cql.run(
                    "SELECT bucket FROM search_buckets WHERE shard = 0 AND bucket <= ? "
                    "AND bucket >= ? LIMIT ?",
                    (top, bottom, BUCKETS_READ),
                    op="search_page",
                )
                pending += [r[0] for r in rows]
                top = rows[-1][0] - 1 if len(rows) == BUCKETS_READ else bottom - 1
            if not pending:
                return
            yield pending[:width]
            pending = pending[width:]
            width = min(width * 2, MAX_ROUND)

    async def _hour(
        self, hour: int, match: str, terms: Sequence[str], upper: int, lower: int, limit: int
    ) -> list[Tweet]:
        rows = await self.cql.run(
            f"SELECT body FROM search_tweets WHERE bucket = ? AND {match} "
            "AND tweet_id <= ? AND tweet_id > ? LIMIT ?",
            (hour, *terms, upper, lower, limit),
            op="search_page",
        )
        return [unpack_tweet(r[0]) for r in rows]

    async def _rare(
        self, match: str, terms: Sequence[str], upper: int, lower: int
    ) -> list[tuple[int, int]] | None:
        """Every (hour, id) match in (lower, upper], newest first, if there are few; else None."""
        rows = await self.cql.run(
            f"SELECT bucket, tweet_id FROM search_tweets WHERE {match} LIMIT ?",
            (*terms, RARE_LIMIT),
            op="search_page",
        )
        if len(rows) >= RARE_LIMIT:
            return None
        return sorted(((r[0], r[1]) for r in rows if lower < r[1] <= upper), key=lambda k: -k[1])

    async def _bodies(self, keys: Sequence[tuple[int, int]]) -> list[Tweet]:
        """The tweets at these (hour, id) keys, in the order given (newest first)."""
        by_hour = [(h, [k[1] for k in group]) for h, group in groupby(keys, key=lambda k: k[0])]
        pages = await asyncio.gather(
            *(
                self.cql.run(
                    "SELECT body FROM search_tweets WHERE bucket = ? AND tweet_id IN ?",
                    (h, ids),
                    op="search_page",
                )
                for h, ids in by_hour
            )
        )
        return [unpack_tweet(r[0]) for rows in pages for r in rows]


def _below(hour: int) -> int:
    """The highest id of the hours before this one."""
    return min_id_for_ms(hour * BUCKET_MS) - 1
