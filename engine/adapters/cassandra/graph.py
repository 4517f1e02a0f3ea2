"""Cassandra adapter for the follow graph: following, followers and their count rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from engine.adapters.cassandra.base import OnSession
from engine.adapters.cassandra.session import Rows
from engine.ports import (
    CountRow,
    FollowGraph,
)
from engine.records import upper_bound


class CassandraGraph(OnSession, FollowGraph):
    """The follow graph in two tables (following, followers) and its count rows."""

    async def clear(self) -> None:
        await self._truncate("following", "followers", "follow_changes", "graph_counts")

    async def scan_edges(self) -> AsyncIterator[list[tuple[int, int]]]:
        async for rows in self.cql.scan("SELECT user_id, follower_id FROM followers", op="scan"):
            yield [(follower, followee) for followee, follower in rows]

    async def scan_changes(self) -> AsyncIterator[list[tuple[int, int, int]]]:
        cql = "SELECT user_id, followee_id, changed_us FROM follow_changes"
        async for rows in self.cql.scan(cql, op="scan"):
            yield [(follower, followee, changed) for follower, followee, changed in rows]

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
        edges = list(zip(pairs, ts_us, strict=True))
        await asyncio.gather(
            *(
                q
                for (f, t), ts in edges
                for q in (
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
        await self._changed(edges)

    async def delete_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        edges = list(zip(pairs, ts_us, strict=True))
        await asyncio.gather(
            *(
                q
                for (f, t), ts in edges
                for q in (
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
        await self._changed(edges)

    async def _changed(self, edges: Sequence[tuple[tuple[int, int], int]]) -> None:
        """Record each edge's change at its time, once the edge's rows are written (a change
        found recorded has its edge in place); the newest one wins (its time is its timestamp)."""
        await asyncio.gather(
            *(
                self.cql.run(
                    "INSERT INTO follow_changes (user_id, followee_id, changed_us) "
                    "VALUES (?, ?, ?) USING TIMESTAMP ?",
                    (f, t, ts, ts),
                    op="put_edge",
                )
                for (f, t), ts in edges
            )
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
