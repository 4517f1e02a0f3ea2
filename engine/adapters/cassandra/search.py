"""Search on Cassandra: a Storage-Attached Index over each tweet's terms, walked newest first.

schemas/cql/003_search.cql keeps one row per tweet in one partition per UTC hour, clustered
newest first, with an SAI index on the values of its `terms` set. Within one partition SAI
answers `terms CONTAINS ? AND ...` in clustering order, so a page of a common query is the
newest hour or two. SAI cannot order across partitions, so a page walks the hours newest
first, each round as many hours at once as the matches seen so far say the page still needs.
A rare query would walk every hour for a handful of rows: when the hours walked suggest fewer
than RARE_LIMIT matches in all, one read across every partition (no order, keys only, at
most RARE_LIMIT rows) is tried; if it returns fewer, those keys are every match and the page
is read from them directly.

Writes go in unlogged batches of one hour's rows (one mutation per partition), each batch
kept under BATCH_BYTES.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from engine.adapters.cassandra.base import OnSession
from engine.events import pack_tweet, unpack_tweet
from engine.ids import MAX_ID, id_ms, min_id_for_ms
from engine.ports import SearchEntry, SearchIndex
from engine.records import PageQuery, Tweet

BUCKET_MS = 3_600_000  # one partition per UTC hour
BUCKETS_READ = 64  # hours listed per read of search_buckets
FIRST_ROUND = 2  # the current hour is partial: start with it and the one before
MAX_ROUND = 16  # hours read at once while walking
RARE_LIMIT = 500  # fewer matches than this across every hour: answer from the keys
BATCH_BYTES = 12_000  # about the bytes of one write batch (Cassandra fails batches at 50 KiB)
OLDEST_CACHE_S = 60.0
_INSERT = (
    "INSERT INTO search_tweets (bucket, tweet_id, terms, body) VALUES (?, ?, ?, ?) "
    "USING TIMESTAMP ?"
)


def bucket_of(tweet_id: int) -> int:
    """The hour a tweet's row is in."""
    return id_ms(tweet_id) // BUCKET_MS


class CassandraSearch(OnSession, SearchIndex):
    """Tweets by term in hourly partitions, through one SAI index."""

    _oldest: tuple[float, int] | None = None  # (when read, the oldest hour with rows)

    async def clear(self) -> None:
        await self._truncate("search_tweets", "search_buckets")

    async def add(self, entries: Sequence[SearchEntry]) -> None:
        rows = sorted((_row(e) for e in entries), key=lambda r: r[0])
        hours = {r[0] for r in rows}
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO search_buckets (shard, bucket) VALUES (0, ?)", (h,), op="search"
                )
                for h in hours
            ),
            *(self.cql.run_batch(_INSERT, batch, op="search_write") for batch in _batches(rows)),
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
        upper, lower = query.bounds
        page = _Page(list(terms), upper, lower, query.count)
        hours = _Hours(self, upper, lower)
        width, walked, probed = FIRST_ROUND, 0, False
        while len(page.found) < page.count:
            batch = await hours.take(width)
            if not batch:
                break
            want = page.count - len(page.found)
            found = await asyncio.gather(*(self._hour(h, page, want) for h in batch))
            page.found += [t for tweets in found for t in tweets]
            walked += len(batch)
            density = len(page.found) / walked  # matches per hour so far
            if len(page.found) >= page.count:
                break
            if not probed and density * await self._hours_left(batch[-1], lower) < RARE_LIMIT:
                probed = True
                rare = await self._rare(page, min(upper, _below(batch[-1])))
                if rare is not None:
                    return page.found + await self._bodies(rare[: page.count - len(page.found)])
            need = page.count - len(page.found)
            width = MAX_ROUND if density == 0 else min(MAX_ROUND, math.ceil(need / density))
        return page.found[: page.count]

    async def _hour(self, hour: int, page: _Page, limit: int) -> list[Tweet]:
        rows = await self.cql.run(
            f"SELECT body FROM search_tweets WHERE bucket = ? AND {page.match} "
            "AND tweet_id <= ? AND tweet_id > ? LIMIT ?",
            (hour, *page.terms, page.upper, page.lower, limit),
            op="search_page",
        )
        return [unpack_tweet(r[0]) for r in rows]

    async def _hours_left(self, below: int, lower: int) -> int:
        """About how many hours with rows are older than `below` (and newer than `lower`)."""
        now = time.monotonic()
        if self._oldest is None or now - self._oldest[0] > OLDEST_CACHE_S:
            rows = await self.cql.run(
                "SELECT bucket FROM search_buckets WHERE shard = 0 ORDER BY bucket ASC LIMIT 1",
                op="search_page",
            )
            self._oldest = (now, rows[0][0] if rows else below)
        floor = max(self._oldest[1], bucket_of(lower) if lower > 0 else -1)
        return max(0, below - floor)

    async def _rare(self, page: _Page, upper: int) -> list[tuple[int, int]] | None:
        """Every (hour, id) match in (lower, upper], newest first, if there are few; else None."""
        rows = await self.cql.run(
            f"SELECT bucket, tweet_id FROM search_tweets WHERE {page.match} LIMIT ?",
            (*page.terms, RARE_LIMIT),
            op="search_page",
        )
        if len(rows) >= RARE_LIMIT:
            return None
        keys = ((r[0], r[1]) for r in rows if page.lower < r[1] <= upper)
        return sorted(keys, key=lambda k: -k[1])

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


class _Page:
    """One page being read: its terms, bounds, size, and the tweets found so far."""

    def __init__(self, terms: list[str], upper: int, lower: int, count: int) -> None:
        self.terms, self.upper, self.lower, self.count = terms, upper, lower, count
        self.match = " AND ".join(["terms CONTAINS ?"] * len(terms))
        self.found: list[Tweet] = []


class _Hours:
    """The hours with rows that may hold ids in (lower, upper], newest first, read lazily."""

    def __init__(self, search: CassandraSearch, upper: int, lower: int) -> None:
        self.search = search
        self.top = bucket_of(upper) if upper != MAX_ID else 2**31 - 1
        self.bottom = bucket_of(lower) if lower > 0 else -1
        self.pending: list[int] = []

    async def take(self, n: int) -> list[int]:
        """The next n hours (fewer at the end)."""
        while len(self.pending) < n and self.top >= self.bottom:
            rows = await self.search.cql.run(
                "SELECT bucket FROM search_buckets WHERE shard = 0 AND bucket <= ? "
                "AND bucket >= ? LIMIT ?",
                (self.top, self.bottom, BUCKETS_READ),
                op="search_page",
            )
            self.pending += [r[0] for r in rows]
            self.top = rows[-1][0] - 1 if len(rows) == BUCKETS_READ else self.bottom - 1
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken


def _row(entry: SearchEntry) -> tuple[Any, ...]:
    tweet = entry.tweet
    return (bucket_of(tweet.id), tweet.id, set(entry.terms), pack_tweet(tweet), entry.ts_us)


def _batches(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Rows (sorted by hour) cut into batches of one hour each, about BATCH_BYTES at most."""
    batches: list[list[tuple[Any, ...]]] = []
    size = 0
    for row in rows:
        row_bytes = len(row[3]) + sum(len(t.encode()) + 4 for t in row[2]) + 40
        if not batches or batches[-1][-1][0] != row[0] or size + row_bytes > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(row)
        size += row_bytes
    return batches


def _below(hour: int) -> int:
    """The highest id of the hours before this one."""
    return min_id_for_ms(hour * BUCKET_MS) - 1
