"""The Cassandra checks projection: the tables of schemas/cql/007_checks.cql; posted tweets'
ids packed many to a row in check_tweet_packs (013_check_tweet_packs.cql), deletions whole,
one to a row, in check_tweet_buckets (012_check_tweet_buckets.cql), both partitioned by
tweet_bucket()."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgpack

from engine.adapters.cassandra.base import OnSession
from engine.adapters.cassandra.session import ROW_OVERHEAD
from engine.events import pack_tweet, unpack_tweet
from engine.ids import id_ms
from engine.ports import CheckedTweet, CheckStore
from engine.records import Tweet

CHECK_TWEET_SHARDS = 16
"""Partitions a second's tweets are spread over (by id): enough to spread them over a
cluster's replicas, few enough that a consumer batch is a few mutations."""

PACK_MAX_IDS = 1024
"""The most ids one check_tweet_packs row holds: a consumer batch's tweets of one bucket in
as few rows as this allows."""


def tweet_bucket(tweet_id: int) -> int:
    """The check_tweet_buckets partition of a tweet, from its id alone."""
    return id_ms(tweet_id) // 1000 * CHECK_TWEET_SHARDS + tweet_id % CHECK_TWEET_SHARDS


class CassandraChecks(OnSession, CheckStore):
    """Tweets, follow edges and list owners for ingest's checks."""

    async def clear(self) -> None:
        await self._truncate(
            "check_tweet_packs", "check_tweet_buckets", "check_follows", "check_lists"
        )

    async def put_tweets(self, tweet_ids: Sequence[int]) -> None:
        """The ids in packs: each bucket's ids, in order, PACK_MAX_IDS at most to a row keyed
        by its first and last id."""
        cql = (
            "INSERT INTO check_tweet_packs (bucket, first_id, last_id, tweets) VALUES (?, ?, ?, ?)"
        )
        by_bucket: dict[int, list[int]] = {}
        for tweet_id in tweet_ids:
            by_bucket.setdefault(tweet_bucket(tweet_id), []).append(tweet_id)
        rows = []
        for bucket, ids in by_bucket.items():
            ids.sort()
            for start in range(0, len(ids), PACK_MAX_IDS):
                chunk = ids[start : start + PACK_MAX_IDS]
                blob = bytes(msgpack.packb([chunk]))
                rows.append((bucket, chunk[0], chunk[-1], blob))
        await self.cql.write_grouped(
            ((cql, row, len(row[3]) + ROW_OVERHEAD) for row in rows), op="check_tweets"
        )

    async def delete_tweets(self, tweets: Sequence[Tweet]) -> None:
        cql = (
            "UPDATE check_tweet_buckets SET body = ?, deleted = true "
            "WHERE bucket = ? AND tweet_id = ?"
        )
        rows = [(pack_tweet(t), tweet_bucket(t.id), t.id) for t in tweets]
        await self.cql.write_grouped(
            ((cql, row, len(row[0]) + ROW_OVERHEAD) for row in rows), op="check_tweets"
        )

    async def tweet(self, tweet_id: int) -> CheckedTweet | None:
        """Its deletion (or a row of the one-row-per-tweet layout) if there is one, else the
        tweet as a pack holds it; both read at once."""
        bucket = tweet_bucket(tweet_id)
        single, packs = await asyncio.gather(
            self.cql.run(
                "SELECT body, deleted FROM check_tweet_buckets WHERE bucket = ? AND tweet_id = ?",
                (bucket, tweet_id),
                op="check_tweet",
            ),
            self.cql.run(
                "SELECT last_id, tweets FROM check_tweet_packs WHERE bucket = ? AND first_id <= ?",
                (bucket, tweet_id),
                op="check_tweet",
            ),
        )
        if single and single[0][0] is not None:
            return CheckedTweet(tweet_id, bool(single[0][1]), unpack_tweet(single[0][0]))
        for last_id, blob in packs:
            if last_id < tweet_id:
                continue
            ids, *bodies = msgpack.unpackb(blob)  # packs written before ids alone have bodies
            if tweet_id in ids:
                whole = unpack_tweet(bodies[0][ids.index(tweet_id)]) if bodies else None
                return CheckedTweet(tweet_id, False, whole)
        return None

    async def set_edges(
        self, pairs: Sequence[tuple[int, int]], present: bool, ts_us: Sequence[int]
    ) -> None:
        cql = (
            "INSERT INTO check_follows (follower_id, followee_id) VALUES (?, ?) USING TIMESTAMP ?"
            if present
            else "DELETE FROM check_follows USING TIMESTAMP ? WHERE follower_id = ? "
            "AND followee_id = ?"
        )
        rows = [
            (f, t, ts) if present else (ts, f, t) for (f, t), ts in zip(pairs, ts_us, strict=True)
        ]
        await asyncio.gather(*(self.cql.run(cql, row, op="check_follows") for row in rows))

    async def follows(self, follower_id: int, followee_id: int) -> bool:
        rows = await self.cql.run(
            "SELECT follower_id FROM check_follows WHERE follower_id = ? AND followee_id = ?",
            (follower_id, followee_id),
            op="check_follows",
        )
        return bool(rows)

    async def put_list_owners(self, owners: Sequence[tuple[int, int]]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO check_lists (list_id, owner_id) VALUES (?, ?)",
                    (list_id, owner_id),
                    op="check_lists",
                )
                for list_id, owner_id in owners
            )
        )

    async def list_owner(self, list_id: int) -> int | None:
        rows = await self.cql.run(
            "SELECT owner_id FROM check_lists WHERE list_id = ?", (list_id,), op="check_lists"
        )
        return int(rows[0][0]) if rows else None
