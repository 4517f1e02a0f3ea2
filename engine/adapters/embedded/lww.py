"""Last-write-wins tables: Cassandra's cell timestamps and tombstones, emulated in SQLite.

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
from collections.abc import Sequence
from dataclasses import dataclass

from engine.adapters.embedded.rows import Conn, Rows

TRIMMED = "home_timeline"  # the one table with trims, kept in home_trims


def empty_tables(conn: Conn, names: Sequence[str]) -> None:
    """Cassandra's TRUNCATE: the rows, and the tombstones and trims that guarded them."""
    for name in names:
        conn.execute(f"DELETE FROM {name}")
        conn.execute("DELETE FROM tombstones WHERE tbl = ?", (name,))
        if name == TRIMMED:
            conn.execute("DELETE FROM home_trims")


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
