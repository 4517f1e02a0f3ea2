"""The embedded stores: the tables of schemas/cql/001_initial.cql in SQLite, same behaviour.

Every projection row carries its write time (`ts`, the caller's event time in microseconds)
and the newest write wins, whatever order writes arrive in, as with Cassandra's
`USING TIMESTAMP`. Deletes leave a tombstone (table, key, ts) that blocks any insert of the
same key at ts or earlier (a delete wins a tie, as in Cassandra); a newer insert brings the
row back. A trim is Cassandra's range tombstone: it removes a home timeline's rows at or
below a bound written at or before now, and keeps (owner, bound, now) so that an older
insert below the bound stays cut. Live tables only ever hold live rows, so reads never skip
tombstones.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.adapters.embedded.keys import KEYS_SCHEMA, claim_key, purge_keys, update_owned
from engine.adapters.embedded.sqlite import SqliteDb
from engine.config import Settings
from engine.events import UserRegistered, encode, pack_tweet, unpack_tweet
from engine.idempotency import OwnedKeyUpdates
from engine.ids import id_ms
from engine.ports import (
    Claim,
    CountRow,
    FollowGraph,
    IngestRegistry,
    KeyRecord,
    Service,
    TimelineStore,
    UserStore,
)
from engine.records import PageQuery, Tweet, User, upper_bound
from engine.registrations import PENDING, REGISTERED, claim_from_row
from engine.text import handle_key

Conn = sqlite3.Connection
Rows = Sequence[tuple[Any, ...]]
IN_CHUNK = 500
PURGE_EVERY_S = 3600.0
CLAIM_COLUMNS = {"event": "BLOB", "state": "TEXT"}
DECODED_TWEETS = 8192  # frozen Tweets shared by every page that shows them
STORE_SCHEMA = (
    """
BEGIN;
CREATE TABLE IF NOT EXISTS handle_claims (
    handle_key TEXT PRIMARY KEY, user_id INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS user_registry (
    user_id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT NOT NULL,
    created_ms INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT NOT NULL,
    created_ms INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users_by_handle (
    handle_key TEXT PRIMARY KEY, user_id INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS following (
    user_id INTEGER, followee_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, followee_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS followers (
    user_id INTEGER, follower_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, follower_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_counts (
    user_id INTEGER, log_partition INTEGER, followers INTEGER NOT NULL,
    following INTEGER NOT NULL, applied_offset INTEGER NOT NULL,
    PRIMARY KEY (user_id, log_partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tweets (
    tweet_id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, body BLOB NOT NULL,
    ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_timeline (
    user_id INTEGER, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_timeline (
    user_id INTEGER, tweet_id INTEGER, author_id INTEGER NOT NULL, body BLOB NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS celebrities (author_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tombstones (
    tbl TEXT, k1, k2, ts INTEGER NOT NULL,
    PRIMARY KEY (tbl, k1, k2)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_trims (
    user_id INTEGER, bound INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, bound)) WITHOUT ROWID;
COMMIT;
"""
    + KEYS_SCHEMA
)


def page_sql(table: str, where: str, column: str = "tweet_id") -> str:
    """The SELECT of one page of bodies: `where`, then PageQuery.bounds and its count as
    parameters, newest first."""
    return (
        f"SELECT body FROM {table} WHERE {where} AND {column} <= ? AND {column} > ? "
        f"ORDER BY {column} DESC LIMIT ?"
    )


def empty_tables(conn: Conn, names: Sequence[str]) -> None:
    """Cassandra's TRUNCATE: the rows, and the tombstones and trims that guarded them."""
    for name in names:
        conn.execute(f"DELETE FROM {name}")
        conn.execute("DELETE FROM tombstones WHERE tbl = ?", (name,))
        if name == HOME.name:
            conn.execute("DELETE FROM home_trims")


def _now_us() -> int:
    return time.time_ns() // 1000


@functools.lru_cache(maxsize=DECODED_TWEETS)
def decode_tweet(body: bytes) -> Tweet:
    """A stored tweet body as a Tweet; a body in many home timelines is decoded once."""
    return unpack_tweet(body)


def fetch_all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row of a query."""
    return conn.execute(sql, params).fetchall()


def fetch_one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row of a query, or None."""
    rows = fetch_all(conn, sql, params)
    return rows[0] if rows else None


@dataclass(frozen=True)
class Table:
    """A table whose rows carry their write time: the newest write wins, deletes leave tombstones.

    Rows are given as (*keys, *values, ts). A table with deletes has one or two key columns,
    which its tombstones repeat; `trimmed` also honours the trims kept in the `trims` table
    (keyed by the first key column, with `bound` and `ts`).
    """

    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...] = ()
    deletes: bool = True
    trimmed: bool = False
    trims: str = "home_trims"

    @functools.cached_property
    def upsert_sql(self) -> str:
        """INSERT of one row unless a write or delete at its time or later covers it."""
        cols = (*self.keys, *self.values, "ts")
        ts = f"?{len(cols)}"
        guard = "1"
        if self.deletes:
            guard = (
                f"NOT EXISTS (SELECT 1 FROM tombstones WHERE {self._tombstone_key} AND ts >= {ts})"
            )
        if self.trimmed:
            guard += (
                f" AND NOT EXISTS (SELECT 1 FROM {self.trims} WHERE {self.keys[0]} = ?1 "
                f"AND bound >= ?2 AND ts >= {ts})"
            )
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols[len(self.keys) :])
        return (
            f"INSERT INTO {self.name} ({', '.join(cols)}) "
            f"SELECT {', '.join(f'?{i}' for i in range(1, len(cols) + 1))} WHERE {guard} "
            f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {sets} "
            f"WHERE excluded.ts >= {self.name}.ts"
        )

    @property
    def _tombstone_key(self) -> str:
        second = "?2" if len(self.keys) == 2 else "''"
        return f"tbl = '{self.name}' AND k1 = ?1 AND k2 = {second}"

    def put(self, conn: Conn, rows: Rows) -> None:
        """Upsert (*keys, *values, ts) rows."""
        conn.executemany(self.upsert_sql, rows)

    def delete(self, conn: Conn, rows: Rows) -> None:
        """Delete (*keys, ts) rows written at ts or before, and keep a tombstone at ts."""
        n = len(self.keys)
        match = " AND ".join(f"{k} = ?{i}" for i, k in enumerate(self.keys, 1))
        conn.executemany(f"DELETE FROM {self.name} WHERE {match} AND ts <= ?{n + 1}", rows)
        second = "?2" if n == 2 else "''"
        conn.executemany(
            f"INSERT INTO tombstones (tbl, k1, k2, ts) VALUES ('{self.name}', ?1, {second}, "
            f"?{n + 1}) ON CONFLICT (tbl, k1, k2) DO UPDATE SET ts = max(ts, excluded.ts)",
            rows,
        )


USERS = Table("users", ("user_id",), ("handle", "display_name", "created_ms"), deletes=False)
USERS_BY_HANDLE = Table("users_by_handle", ("handle_key",), ("user_id",), deletes=False)
FOLLOWING = Table("following", ("user_id", "followee_id"))
FOLLOWERS = Table("followers", ("user_id", "follower_id"))
TWEETS = Table("tweets", ("tweet_id",), ("author_id", "body"))
USER_TIMELINE = Table("user_timeline", ("user_id", "tweet_id"), ("body",))
HOME = Table("home_timeline", ("user_id", "tweet_id"), ("author_id", "body"), trimmed=True)


class OnDb(Service):
    """An adapter on the shared store file, which the backend opens and closes."""

    def __init__(self, settings: Settings, db: SqliteDb) -> None:
        self.settings = settings
        self.db = db

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        """The shared file is closed by the backend that owns it."""

    async def _empty(self, *tables: str) -> None:
        """Empty these tables with their tombstones and trims, as Cassandra's TRUNCATE does."""
        await self.db.write("truncate", lambda c: empty_tables(c, tables))


class EmbeddedRegistry(OwnedKeyUpdates, OnDb, IngestRegistry):
    """Handle claims, the user registry and idempotency keys, each change one transaction."""

    TRUE, NULL = "1", "NULL"
    _purged_at = float("-inf")

    async def start(self) -> None:
        await super().start()
        await self.db.write("upgrade", _upgrade)
        await self._purge()

    async def _purge(self) -> None:
        """Forget expired idempotency keys (at start, then at most once an hour)."""
        now = time.monotonic()
        if now - self._purged_at >= PURGE_EVERY_S:
            self._purged_at = now
            await self.db.write("idempotency", purge_keys)

    async def claim_handle(self, event: UserRegistered) -> Claim[UserRegistered]:
        row = await self.db.write("claim_handle", lambda c: _claim(c, event))
        return claim_from_row(UserRegistered, *row)

    async def mark_registered(self, event: UserRegistered) -> None:
        await self.db.write("mark_registered", lambda c: _mark(c, event))

    async def handle_claim(self, handle: str) -> Claim[UserRegistered] | None:
        sql = "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?"
        row = await self.db.read("handle_owner", lambda c: fetch_one(c, sql, (handle_key(handle),)))
        return claim_from_row(UserRegistered, *row) if row else None

    async def user_claim(self, user_id: int) -> Claim[UserRegistered] | None:
        sql = "SELECT event, state FROM user_registry WHERE user_id = ?"
        row = await self.db.read("registered_user", lambda c: fetch_one(c, sql, (user_id,)))
        return claim_from_row(UserRegistered, user_id, *row) if row else None

    async def registered_user(self, user_id: int) -> User | None:
        row = await self.db.read(
            "registered_user",
            lambda c: fetch_one(
                c,
                "SELECT handle, display_name, created_ms FROM user_registry "
                "WHERE user_id = ? AND state IS NOT 'pending'",
                (user_id,),
            ),
        )
        return User(user_id, *row) if row else None

    async def handle_owner(self, handle: str) -> int | None:
        claim = await self.handle_claim(handle)
        return claim.user_id if claim is not None and claim.registered else None

    async def claim_idempotent(
        self, scope: str, key: str, fingerprint: bytes, owner: str, lease_s: float
    ) -> KeyRecord:
        await self._purge()
        claim, ttl = (fingerprint, owner, lease_s), self.settings.idempotency_ttl_s
        return await self.db.write("idempotency", lambda c: claim_key(c, scope, key, claim, ttl))

    async def _owned(self, scope: str, key: str, owner: str, sets: str, *values: Any) -> bool:
        where = (scope, key, self.settings.idempotency_ttl_s)
        return await self.db.write(
            "idempotency", lambda c: update_owned(c, where, owner, sets, *values)
        )


def _claim(conn: Conn, event: UserRegistered) -> tuple[int, bytes | None, str | None]:
    """The holder's (user id, event, state): this event's, pending, if the handle was free."""
    key = handle_key(event.handle)
    sql = "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?"
    holder = fetch_one(conn, sql, (key,))
    if holder is not None:
        return int(holder[0]), holder[1], holder[2]
    blob = encode(event)
    conn.execute(
        "INSERT INTO handle_claims (handle_key, user_id, event, state) VALUES (?, ?, ?, ?)",
        (key, event.user_id, blob, PENDING),
    )
    _put_registry(conn, event, blob, PENDING)
    return event.user_id, blob, PENDING


def _mark(conn: Conn, event: UserRegistered) -> None:
    marked = conn.execute(
        "UPDATE handle_claims SET state = ? WHERE handle_key = ? AND user_id = ?",
        (REGISTERED, handle_key(event.handle), event.user_id),
    )
    if marked.rowcount:  # the claim is this user's
        _put_registry(conn, event, encode(event), REGISTERED)


def _put_registry(conn: Conn, event: UserRegistered, blob: bytes, state: str) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO user_registry "
        "(user_id, handle, display_name, created_ms, event, state) VALUES (?, ?, ?, ?, ?, ?)",
        (event.user_id, event.handle, event.display_name, id_ms(event.user_id), blob, state),
    )


def add_columns(conn: Conn, table: str, columns: dict[str, str]) -> None:
    """Add the columns a table made by an older version lacks (name -> SQLite type)."""
    have = {row[1] for row in fetch_all(conn, f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _upgrade(conn: Conn) -> None:
    """Claims made before claims kept their event get the columns, and count as registered
    (the phone claims of embedded_views too: they live in this file)."""
    for table in ("handle_claims", "user_registry", "phones"):
        add_columns(conn, table, CLAIM_COLUMNS)


class EmbeddedUsers(OnDb, UserStore):
    """The users projection, with counts summed from graph_counts."""

    async def clear(self) -> None:
        await self._empty("users", "users_by_handle")

    async def put_user(self, user: User, ts_us: int) -> None:
        await self.db.write("put_user", lambda c: _put_user(c, user, ts_us))

    async def get_user(self, user_id: int) -> User | None:
        return await self.db.read("get_user", lambda c: _get_user(c, user_id))

    async def get_user_by_handle(self, handle: str) -> User | None:
        return await self.db.read("get_user", lambda c: _user_by_handle(c, handle_key(handle)))

    async def get_users(self, user_ids: Sequence[int]) -> list[User]:
        found = await self.db.read("get_user", lambda c: [_get_user(c, i) for i in user_ids])
        return [u for u in found if u is not None]


def _put_user(conn: Conn, user: User, ts_us: int) -> None:
    USERS.put(conn, [(user.id, user.handle, user.display_name, user.created_ms, ts_us)])
    USERS_BY_HANDLE.put(conn, [(handle_key(user.handle), user.id, ts_us)])


def _get_user(conn: Conn, user_id: int) -> User | None:
    row = fetch_one(
        conn, "SELECT handle, display_name, created_ms FROM users WHERE user_id = ?", (user_id,)
    )
    if row is None:
        return None
    followers, following = fetch_one(
        conn,
        "SELECT COALESCE(SUM(followers), 0), COALESCE(SUM(following), 0) FROM graph_counts "
        "WHERE user_id = ?",
        (user_id,),
    )
    handle, display_name, created_ms = row
    return User(user_id, handle, display_name, created_ms, followers, following)


def _user_by_handle(conn: Conn, key: str) -> User | None:
    row = fetch_one(conn, "SELECT user_id FROM users_by_handle WHERE handle_key = ?", (key,))
    return None if row is None else _get_user(conn, row[0])


class EmbeddedGraph(OnDb, FollowGraph):
    """The follow graph in two tables (following, followers) and its count rows."""

    async def clear(self) -> None:
        await self._empty("following", "followers", "graph_counts")

    async def edges_exist(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bool]:
        sql = "SELECT 1 FROM following WHERE user_id = ? AND followee_id = ?"
        found = await self.db.read(
            "edge_exists", lambda c: [bool(fetch_all(c, sql, p)) for p in pairs]
        )
        return dict(zip(pairs, found, strict=True))

    async def edges_changed(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """The newest of a live edge's time and its tombstone's."""
        sql = (
            "SELECT max(coalesce((SELECT ts FROM following WHERE user_id = ?1 "
            "AND followee_id = ?2), 0), coalesce((SELECT ts FROM tombstones "
            "WHERE tbl = 'following' AND k1 = ?1 AND k2 = ?2), 0))"
        )
        found = await self.db.read(
            "edges_changed", lambda c: [int(fetch_all(c, sql, p)[0][0]) for p in pairs]
        )
        return dict(zip(pairs, found, strict=True))

    async def put_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        rows = [(f, t, ts) for (f, t), ts in zip(pairs, ts_us, strict=True)]
        if rows:
            await self.db.write("put_edge", lambda c: _edges(c, rows, delete=False))

    async def delete_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        rows = [(f, t, ts) for (f, t), ts in zip(pairs, ts_us, strict=True)]
        if rows:
            await self.db.write("del_edge", lambda c: _edges(c, rows, delete=True))

    async def count_rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], CountRow]:
        return await self.db.read("count_rows", lambda c: {k: _count_row(c, k) for k in keys})

    async def put_count_rows(self, rows: Sequence[CountRow]) -> None:
        params = [
            (r.user_id, r.log_partition, r.followers, r.following, r.applied_offset) for r in rows
        ]
        await self.db.write(
            "put_counts",
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO graph_counts (user_id, log_partition, followers, "
                "following, applied_offset) VALUES (?, ?, ?, ?, ?)",
                params,
            ),
        )

    async def follower_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        return await self._ids(FOLLOWERS, user_id, limit, max_id)

    async def following_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        return await self._ids(FOLLOWING, user_id, limit, max_id)

    async def _ids(self, table: Table, user_id: int, limit: int, max_id: int | None) -> list[int]:
        other = table.keys[1]
        sql = (
            f"SELECT {other} FROM {table.name} WHERE user_id = ? AND {other} <= ? "
            f"ORDER BY {other} DESC LIMIT ?"
        )
        params = (user_id, upper_bound(max_id), limit)
        rows = await self.db.read(table.name, lambda c: fetch_all(c, sql, params))
        return [r[0] for r in rows]

    async def followed_among(self, user_id: int, candidates: Sequence[int]) -> list[int]:
        if not candidates:
            return []
        return await self.db.read("followed_among", lambda c: _among(c, user_id, candidates))

    async def follower_count(self, user_id: int) -> int:
        row = await self.db.read(
            "counts",
            lambda c: fetch_one(
                c,
                "SELECT COALESCE(SUM(followers), 0) FROM graph_counts WHERE user_id = ?",
                (user_id,),
            ),
        )
        return int(row[0])


def _edges(conn: Conn, rows: list[tuple[int, int, int]], *, delete: bool) -> None:
    mirrored = [(t, f, ts) for f, t, ts in rows]
    if delete:
        FOLLOWING.delete(conn, rows)
        FOLLOWERS.delete(conn, mirrored)
    else:
        FOLLOWING.put(conn, rows)
        FOLLOWERS.put(conn, mirrored)


def _count_row(conn: Conn, key: tuple[int, int]) -> CountRow:
    row = fetch_one(
        conn,
        "SELECT followers, following, applied_offset FROM graph_counts "
        "WHERE user_id = ? AND log_partition = ?",
        key,
    )
    return CountRow(key[0], key[1], *row) if row else CountRow(key[0], key[1])


def _among(conn: Conn, user_id: int, candidates: Sequence[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(candidates), IN_CHUNK):
        chunk = list(candidates[start : start + IN_CHUNK])
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT followee_id FROM following WHERE user_id = ? AND followee_id IN ({marks})"
        found.extend(r[0] for r in fetch_all(conn, sql, (user_id, *chunk)))
    return sorted(set(found), reverse=True)


class EmbeddedTimelines(OnDb, TimelineStore):
    """The tweet store and the user and home timelines."""

    async def clear(self) -> None:
        await self._empty("tweets", "user_timeline", "home_timeline", "celebrities")

    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        rows = [(t, pack_tweet(t), ts) for t, ts in zip(tweets, ts_us, strict=True)]
        if rows:
            await self.db.write("put_tweet", lambda c: _put_tweets(c, rows))

    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        row = await self.db.read(
            "get_tweet",
            lambda c: fetch_one(c, "SELECT body FROM tweets WHERE tweet_id = ?", (tweet_id,)),
        )
        return decode_tweet(row[0]) if row else None

    async def add_home_rows(self, owner_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(owner_id, t.id, t.author_id, pack_tweet(t), ts) for t, ts in rows]
        if params:
            await self.db.write("home_write", lambda c: HOME.put(c, params))

    async def remove_home_rows(self, owner_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        params = [(owner_id, tid, ts_us) for tid in tweet_ids]
        if params:
            await self.db.write("home_delete", lambda c: HOME.delete(c, params))

    async def home_authors(self, owner_id: int) -> list[tuple[int, int]]:
        sql = (
            "SELECT tweet_id, author_id FROM home_timeline WHERE user_id = ? "
            "ORDER BY tweet_id DESC LIMIT ?"
        )
        params = (owner_id, self.home_authors_limit)
        rows = await self.db.read("home_authors", lambda c: fetch_all(c, sql, params))
        return [(r[0], r[1]) for r in rows]

    async def trim_home(self, owner_id: int, keep: int) -> int:
        return await self.db.write("home_trim", lambda c: _trim(c, owner_id, keep))

    async def home_page(self, owner_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page("home_timeline", owner_id, query)

    async def user_page(self, author_id: int, query: PageQuery) -> list[Tweet]:
        return await self._page("user_timeline", author_id, query)

    async def _page(self, table: str, owner_id: int, query: PageQuery) -> list[Tweet]:
        sql = page_sql(table, "user_id = ?")
        params = (owner_id, *query.bounds, query.count)
        rows = await self.db.read("page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]

    async def delete_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        rows = list(zip(tweets, ts_us, strict=True))
        if rows:
            await self.db.write("delete_tweet", lambda c: _delete_tweets(c, rows))

    async def mark_celebrity(self, author_id: int) -> None:
        await self.db.write(
            "celeb",
            lambda c: c.execute(
                "INSERT OR IGNORE INTO celebrities (author_id) VALUES (?)", (author_id,)
            ),
        )

    async def celebrities(self) -> set[int]:
        rows = await self.db.read(
            "celeb", lambda c: fetch_all(c, "SELECT author_id FROM celebrities")
        )
        return {r[0] for r in rows}


def _put_tweets(conn: Conn, rows: list[tuple[Tweet, bytes, int]]) -> None:
    TWEETS.put(conn, [(t.id, t.author_id, body, ts) for t, body, ts in rows])
    USER_TIMELINE.put(conn, [(t.author_id, t.id, body, ts) for t, body, ts in rows])


def _delete_tweets(conn: Conn, rows: list[tuple[Tweet, int]]) -> None:
    TWEETS.delete(conn, [(t.id, ts) for t, ts in rows])
    USER_TIMELINE.delete(conn, [(t.author_id, t.id, ts) for t, ts in rows])


def _trim(conn: Conn, owner_id: int, keep: int) -> int:
    """Cassandra's trim: one range tombstone at now over the rows beyond the newest `keep`."""
    row = fetch_one(
        conn,
        "SELECT tweet_id FROM home_timeline WHERE user_id = ? ORDER BY tweet_id DESC "
        "LIMIT 1 OFFSET ?",
        (owner_id, keep),
    )
    if row is None:
        return 0
    params = (owner_id, row[0], _now_us())
    conn.execute(
        "DELETE FROM home_timeline WHERE user_id = ?1 AND tweet_id <= ?2 AND ts <= ?3", params
    )
    # Tombstones and trims this one covers can go: it blocks everything they blocked.
    conn.execute(
        "DELETE FROM tombstones WHERE tbl = 'home_timeline' AND k1 = ?1 AND k2 <= ?2 AND ts <= ?3",
        params,
    )
    conn.execute("DELETE FROM home_trims WHERE user_id = ?1 AND bound <= ?2 AND ts <= ?3", params)
    conn.execute(
        "INSERT OR REPLACE INTO home_trims (user_id, bound, ts) VALUES (?1, ?2, ?3)", params
    )
    return 1
