"""The embedded follow graph: following, followers and their count rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import IN_CHUNK, SCAN_PAGE, Conn, fetch_all, fetch_one
from engine.ports import (
    CountRow,
    FollowGraph,
)
from engine.records import upper_bound

FOLLOWING = Table("following", ("user_id", "followee_id"))
FOLLOWERS = Table("followers", ("user_id", "follower_id"))


class EmbeddedGraph(OnDb, FollowGraph):
    """The follow graph in two tables (following, followers) and its count rows."""

    async def clear(self) -> None:
        await self._empty("following", "followers", "graph_counts")

    async def scan_edges(self) -> AsyncIterator[list[tuple[int, int]]]:
        sql = "SELECT user_id, followee_id FROM following"
        rows = await self.db.read("scan", lambda c: fetch_all(c, sql))
        for start in range(0, len(rows), SCAN_PAGE):
            yield [(r[0], r[1]) for r in rows[start : start + SCAN_PAGE]]

    async def scan_changes(self) -> AsyncIterator[list[tuple[int, int, int]]]:
        sql = (
            "SELECT user_id, followee_id, ts FROM following UNION ALL "
            "SELECT k1, k2, ts FROM tombstones WHERE tbl = 'following'"
        )
        rows = await self.db.read("scan", lambda c: fetch_all(c, sql))
        for start in range(0, len(rows), SCAN_PAGE):
            yield [(r[0], r[1], r[2]) for r in rows[start : start + SCAN_PAGE]]

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
