"""Cassandra adapters for the store ports, on one shared CqlSession."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from engine.adapters.cassandra.session import CqlSession, Rows
from engine.events import UserRegistered, encode, pack_tweet, unpack_tweet
from engine.idempotency import OwnedKeyUpdates, claimable, lease_deadline, now_ms
from engine.ids import id_ms
from engine.ports import (
    Claim,
    CountRow,
    FollowGraph,
    IngestRegistry,
    KeyRecord,
    Service,
    StoredResponse,
    TimelineStore,
    UserStore,
)
from engine.records import PageQuery, Tweet, User, upper_bound
from engine.registrations import PENDING, REGISTERED, claim_from_row
from engine.text import handle_key

CLAIM_TRIES = 3
HOME_ROWS_PER_BATCH = 50  # home rows per unlogged batch: well under Cassandra's 50 KiB limit


class OnSession(Service):
    """An adapter whose connection is the shared session, started and stopped by its owner."""

    def __init__(self, cql: CqlSession) -> None:
        self.cql = cql

    async def start(self) -> None:
        await self.cql.start()

    async def stop(self) -> None:
        """The shared session is closed by the backend that owns it."""

    async def _truncate(self, *tables: str) -> None:
        """Empty these tables, one TRUNCATE each."""
        for table in tables:
            await self.cql.run(f"TRUNCATE {table}", op="truncate")


class CassandraRegistry(OwnedKeyUpdates, OnSession, IngestRegistry):
    """Handle claims by lightweight transaction, the user registry, idempotency keys.

    A claim row keeps its pending event; it turns registered by a lightweight transaction
    too (never mixed with plain writes, whose client timestamps could lose to the Paxos
    ones). The user registry row, a plain write, is stamped with the event time when
    pending and one microsecond later when registered, so registered wins whatever the
    order or the clock of the processes that wrote them.
    """

    async def claim_handle(self, event: UserRegistered) -> Claim[UserRegistered]:
        rows = await self.cql.run(
            "INSERT INTO handle_claims (handle_key, user_id, event, state) "
            "VALUES (?, ?, ?, 'pending') IF NOT EXISTS",
            (handle_key(event.handle), event.user_id, encode(event)),
            op="claim_handle",
        )
        if not rows[0][0]:  # [applied], handle_key, event, state, user_id of the holder
            return claim_from_row(UserRegistered, rows[0][-1], rows[0][2], rows[0][3])
        await self._put_registry(event, PENDING, event.ts_us)
        return Claim(event.user_id, event, False)

    async def mark_registered(self, event: UserRegistered) -> None:
        rows = await self.cql.run(
            "UPDATE handle_claims SET state = 'registered' WHERE handle_key = ? IF user_id = ?",
            (handle_key(event.handle), event.user_id),
            op="mark_registered",
        )
        if rows[0][0]:  # the claim is this user's
            await self._put_registry(event, REGISTERED, event.ts_us + 1)

    async def _put_registry(self, event: UserRegistered, state: str, ts_us: int) -> None:
        await self.cql.run(
            "INSERT INTO user_registry (user_id, handle, display_name, created_ms, event, state) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            (
                event.user_id,
                event.handle,
                event.display_name,
                id_ms(event.user_id),
                encode(event),
                state,
                ts_us,
            ),
            op="register_user",
        )

    async def handle_claim(self, handle: str) -> Claim[UserRegistered] | None:
        rows = await self.cql.run(
            "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?",
            (handle_key(handle),),
            op="handle_owner",
        )
        return claim_from_row(UserRegistered, *rows[0]) if rows else None

    async def user_claim(self, user_id: int) -> Claim[UserRegistered] | None:
        rows = await self.cql.run(
            "SELECT event, state FROM user_registry WHERE user_id = ?",
            (user_id,),
            op="registered_user",
        )
        return claim_from_row(UserRegistered, user_id, *rows[0]) if rows else None

    async def registered_user(self, user_id: int) -> User | None:
        rows = await self.cql.run(
            "SELECT handle, display_name, created_ms, state FROM user_registry WHERE user_id = ?",
            (user_id,),
            op="registered_user",
        )
        if not rows or rows[0][3] == PENDING:
            return None
        return User(user_id, *rows[0][:3])

    async def handle_owner(self, handle: str) -> int | None:
        claim = await self.handle_claim(handle)
        return claim.user_id if claim is not None and claim.registered else None

    async def claim_idempotent(
        self, scope: str, key: str, fingerprint: bytes, owner: str, lease_s: float
    ) -> KeyRecord:
        found: KeyRecord | None = None
        for _ in range(CLAIM_TRIES):
            until = lease_deadline(lease_s)
            if await self._lwt(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, owner, lease_until_ms, "
                "done) VALUES (?, ?, ?, ?, ?, false) IF NOT EXISTS USING TTL ?",
                (scope, key, fingerprint, owner, until, self.cql.settings.idempotency_ttl_s),
            ):
                return KeyRecord(fingerprint, owner, until)
            found = await self._key(scope, key)
            if found is None:
                continue  # expired since the insert was refused
            if not claimable(found, fingerprint, owner, now_ms()):
                return found
            ttl, was = self.cql.settings.idempotency_ttl_s, (found.owner, found.lease_until_ms)
            if await self._lwt(
                "UPDATE idempotency_keys USING TTL ? SET fingerprint = ?, owner = ?, "
                "lease_until_ms = ? WHERE scope = ? AND key = ? "
                "IF owner = ? AND lease_until_ms = ? AND done = false",
                (ttl, fingerprint, owner, until, scope, key, *was),
            ):
                return dataclasses.replace(
                    found, fingerprint=fingerprint, owner=owner, lease_until_ms=until
                )
        return found or KeyRecord(fingerprint, "", lease_deadline(lease_s))  # contended

    async def _owned(self, scope: str, key: str, owner: str, sets: str, *values: object) -> bool:
        return await self._lwt(
            f"UPDATE idempotency_keys USING TTL ? SET {sets} WHERE scope = ? AND key = ? "
            "IF owner = ? AND done = false",
            (self.cql.settings.idempotency_ttl_s, *values, scope, key, owner),
        )

    async def _lwt(self, cql: str, params: tuple[object, ...]) -> bool:
        rows = await self.cql.run(cql, params, op="idempotency")
        return bool(rows[0][0])

    async def _key(self, scope: str, key: str) -> KeyRecord | None:
        rows = await self.cql.run(
            "SELECT fingerprint, owner, lease_until_ms, events, status, body, done "
            "FROM idempotency_keys WHERE scope = ? AND key = ?",
            (scope, key),
            op="idempotency",
        )
        if not rows:
            return None
        fingerprint, owner, until, events, status, body, done = rows[0]
        response = None if status is None else StoredResponse(status, body or b"")
        return KeyRecord(fingerprint or b"", owner or "", until or 0, events, response, bool(done))


class CassandraUsers(OnSession, UserStore):
    """The users projection, with counts summed from graph_counts."""

    async def clear(self) -> None:
        await self._truncate("users", "users_by_handle")

    async def put_user(self, user: User, ts_us: int) -> None:
        await asyncio.gather(
            self.cql.run(
                "INSERT INTO users (user_id, handle, display_name, created_ms) "
                "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                (user.id, user.handle, user.display_name, user.created_ms, ts_us),
                op="put_user",
            ),
            self.cql.run(
                "INSERT INTO users_by_handle (handle_key, user_id) VALUES (?, ?) USING TIMESTAMP ?",
                (handle_key(user.handle), user.id, ts_us),
                op="put_user",
            ),
        )

    async def get_user(self, user_id: int) -> User | None:
        rows, counts = await asyncio.gather(
            self.cql.run(
                "SELECT handle, display_name, created_ms FROM users WHERE user_id = ?",
                (user_id,),
                op="get_user",
            ),
            self.cql.run(
                "SELECT followers, following FROM graph_counts WHERE user_id = ?",
                (user_id,),
                op="get_user",
            ),
        )
        if not rows:
            return None
        handle, name, created_ms = rows[0]
        followers = sum(r[0] or 0 for r in counts)
        following = sum(r[1] or 0 for r in counts)
        return User(user_id, handle, name, created_ms, followers, following)

    async def get_user_by_handle(self, handle: str) -> User | None:
        rows = await self.cql.run(
            "SELECT user_id FROM users_by_handle WHERE handle_key = ?",
            (handle_key(handle),),
            op="get_user",
        )
        return await self.get_user(rows[0][0]) if rows else None

    async def get_users(self, user_ids: Sequence[int]) -> list[User]:
        found = await asyncio.gather(*(self.get_user(uid) for uid in user_ids))
        return [u for u in found if u is not None]


class CassandraGraph(OnSession, FollowGraph):
    """The follow graph in two tables (following, followers) and its count rows."""

    async def clear(self) -> None:
        await self._truncate("following", "followers", "follow_changes", "graph_counts")

    async def edges_exist(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bool]:
        cql = "SELECT followee_id FROM following WHERE user_id = ? AND followee_id = ?"
        found = await self._per_pair(cql, pairs, "edge_exists")
        return {pair: bool(rows) for pair, rows in found.items()}

    async def edges_changed(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        cql = "SELECT changed_us FROM follow_changes WHERE user_id = ? AND followee_id = ?"
        found = await self._per_pair(cql, pairs, "edges_changed")
        return {pair: rows[0][0] if rows else 0 for pair, rows in found.items()}

    async def _per_pair(
        self, cql: str, pairs: Sequence[tuple[int, int]], op: str
    ) -> dict[tuple[int, int], Rows]:
        """One read of a (user, followee) row per pair, concurrently."""
        found = await asyncio.gather(*(self.cql.run(cql, pair, op=op) for pair in pairs))
        return dict(zip(pairs, found, strict=True))

    async def put_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        await asyncio.gather(
            *(
                q
                for (f, t), ts in zip(pairs, ts_us, strict=True)
                for q in (
                    self._changed(f, t, ts),
                    self.cql.run(
                        "INSERT INTO following (user_id, followee_id) VALUES (?, ?) "
                        "USING TIMESTAMP ?",
                        (f, t, ts),
                        op="put_edge",
                    ),
                    self.cql.run(
                        "INSERT INTO followers (user_id, follower_id) VALUES (?, ?) "
                        "USING TIMESTAMP ?",
                        (t, f, ts),
                        op="put_edge",
                    ),
                )
            )
        )

    async def delete_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        await asyncio.gather(
            *(
                q
                for (f, t), ts in zip(pairs, ts_us, strict=True)
                for q in (
                    self._changed(f, t, ts),
                    self.cql.run(
                        "DELETE FROM following USING TIMESTAMP ? "
                        "WHERE user_id = ? AND followee_id = ?",
                        (ts, f, t),
                        op="del_edge",
                    ),
                    self.cql.run(
                        "DELETE FROM followers USING TIMESTAMP ? "
                        "WHERE user_id = ? AND follower_id = ?",
                        (ts, t, f),
                        op="del_edge",
                    ),
                )
            )
        )

    async def _changed(self, follower: int, followee: int, ts: int) -> Rows:
        """Record a change of the edge at ts; the newest one wins (its time is its timestamp)."""
        return await self.cql.run(
            "INSERT INTO follow_changes (user_id, followee_id, changed_us) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?",
            (follower, followee, ts, ts),
            op="put_edge",
        )

    async def count_rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], CountRow]:
        found = await asyncio.gather(
            *(
                self.cql.run(
                    "SELECT followers, following, applied_offset FROM graph_counts "
                    "WHERE user_id = ? AND log_partition = ?",
                    key,
                    op="count_rows",
                )
                for key in keys
            )
        )
        return {
            key: CountRow(key[0], key[1], *rows[0]) if rows else CountRow(key[0], key[1])
            for key, rows in zip(keys, found, strict=True)
        }

    async def put_count_rows(self, rows: Sequence[CountRow]) -> None:
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO graph_counts (user_id, log_partition, followers, following, "
                    "applied_offset) VALUES (?, ?, ?, ?, ?)",
                    (r.user_id, r.log_partition, r.followers, r.following, r.applied_offset),
                    op="put_counts",
                )
                for r in rows
            )
        )

    async def follower_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        rows = await self.cql.run(
            "SELECT follower_id FROM followers WHERE user_id = ? AND follower_id <= ? LIMIT ?",
            (user_id, upper_bound(max_id), limit),
            op="followers",
        )
        return [r[0] for r in rows]

    async def following_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        rows = await self.cql.run(
            "SELECT followee_id FROM following WHERE user_id = ? AND followee_id <= ? LIMIT ?",
            (user_id, upper_bound(max_id), limit),
            op="following",
        )
        return [r[0] for r in rows]

    async def followed_among(self, user_id: int, candidates: Sequence[int]) -> list[int]:
        if not candidates:
            return []
        rows = await self.cql.run(
            "SELECT followee_id FROM following WHERE user_id = ? AND followee_id IN ?",
            (user_id, list(candidates)),
            op="followed_among",
        )
        return [r[0] for r in rows]

    async def follower_count(self, user_id: int) -> int:
        rows = await self.cql.run(
            "SELECT followers FROM graph_counts WHERE user_id = ?", (user_id,), op="counts"
        )
        return sum(r[0] or 0 for r in rows)


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
