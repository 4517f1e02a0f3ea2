"""The embedded checks projection: the tables of schemas/cql/007_checks.cql in SQLite.

Follow edges follow the store's rules (newest event time wins, an unfollow leaves a
tombstone); a tweet's deletion is a flag that no later write clears, so replaying the log in
any order leaves the same rows. A posted tweet is kept by id (an empty body), a deleted one
whole, as on Cassandra.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import (
    Conn,
    decode_tweet,
    fetch_all,
    fetch_one,
)
from engine.events import pack_tweet
from engine.ports import CheckedTweet, CheckStore
from engine.records import Tweet

FOLLOWS = Table("check_follows", ("follower_id", "followee_id"))
_PUT_TWEET = (
    "INSERT INTO check_tweets (tweet_id, body, deleted) VALUES (?, ?, 0) "
    "ON CONFLICT (tweet_id) DO NOTHING"
)
_DELETE_TWEET = (
    "INSERT INTO check_tweets (tweet_id, body, deleted) VALUES (?, ?, 1) "
    "ON CONFLICT (tweet_id) DO UPDATE SET deleted = 1, body = excluded.body"
)


class EmbeddedChecks(OnDb, CheckStore):
    """Tweets, follow edges and list owners for ingest's checks, on the shared store file."""

    async def clear(self) -> None:
        await self._empty("check_tweets", "check_follows", "check_lists")

    async def put_tweets(self, tweet_ids: Sequence[int]) -> None:
        await self._tweets(_PUT_TWEET, [(i, b"") for i in tweet_ids])

    async def delete_tweets(self, tweets: Sequence[Tweet]) -> None:
        await self._tweets(_DELETE_TWEET, [(t.id, pack_tweet(t)) for t in tweets])

    async def _tweets(self, sql: str, rows: list[tuple[int, bytes]]) -> None:
        if rows:
            await self.db.write("check_tweets", lambda c: c.executemany(sql, rows))

    async def tweet(self, tweet_id: int) -> CheckedTweet | None:
        sql = "SELECT body, deleted FROM check_tweets WHERE tweet_id = ?"
        row = await self.db.read("check_tweet", lambda c: fetch_one(c, sql, (tweet_id,)))
        if row is None:
            return None
        whole = decode_tweet(row[0]) if row[0] else None  # a posted tweet's body is empty
        return CheckedTweet(tweet_id, bool(row[1]), whole)

    async def set_edges(
        self, pairs: Sequence[tuple[int, int]], present: bool, ts_us: Sequence[int]
    ) -> None:
        rows = [(f, t, ts) for (f, t), ts in zip(pairs, ts_us, strict=True)]
        if rows:
            await self.db.write("check_follows", lambda c: _edges(c, rows, present))

    async def follows(self, follower_id: int, followee_id: int) -> bool:
        sql = "SELECT 1 FROM check_follows WHERE follower_id = ? AND followee_id = ?"
        found = await self.db.read(
            "check_follows", lambda c: fetch_all(c, sql, (follower_id, followee_id))
        )
        return bool(found)

    async def put_list_owners(self, owners: Sequence[tuple[int, int]]) -> None:
        sql = "INSERT OR REPLACE INTO check_lists (list_id, owner_id) VALUES (?, ?)"
        rows = list(owners)
        if rows:
            await self.db.write("check_lists", lambda c: c.executemany(sql, rows))

    async def list_owner(self, list_id: int) -> int | None:
        sql = "SELECT owner_id FROM check_lists WHERE list_id = ?"
        row = await self.db.read("check_lists", lambda c: fetch_one(c, sql, (list_id,)))
        return int(row[0]) if row else None


def _edges(conn: Conn, rows: list[tuple[int, int, int]], present: bool) -> None:
    if present:
        FOLLOWS.put(conn, rows)
    else:
        FOLLOWS.delete(conn, rows)
