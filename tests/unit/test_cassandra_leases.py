"""CassandraLeases.acquire when a contended compare-and-set times out (outcome unknown)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from cassandra import WriteTimeout

from engine.adapters.cassandra.leases import CAS_TIMEOUTS, CassandraLeases
from engine.errors import StoreUnavailable


class Cql:
    """A session whose first `timeouts` conditional batches time out; the rest apply."""

    def __init__(self, timeouts: int) -> None:
        self.settings = SimpleNamespace(worker_lease_s=300.0)
        self.timeouts = timeouts
        self.tried: list[int] = []

    async def run(self, cql: str, params: Any = (), *, op: str = "") -> list[tuple[Any, ...]]:
        return []  # no lease rows yet

    async def run_together(self, statements: Any, *, op: str) -> list[tuple[Any, ...]]:
        worker = statements[0][1][1]
        self.tried.append(worker)
        if len(self.tried) <= self.timeouts:
            try:
                raise WriteTimeout("CAS operation timed out", write_type=5)
            except WriteTimeout as e:
                raise StoreUnavailable("Cassandra lease failed") from e
        return [(True,)]


async def test_a_timed_out_take_moves_on_to_the_next_id_and_never_lowers_its_mark() -> None:
    cql = Cql(timeouts=2)
    leases = CassandraLeases(cql)  # type: ignore[arg-type]
    lease = await leases.acquire("me", 1_000, prefer=7)
    assert cql.tried == [7, 8, 9]
    assert lease.worker == 9
    # the ids whose take may have landed keep the mark this process tried to write
    assert leases._next_mark(7, 0) >= 1_000 + 300_000


async def test_acquire_gives_up_after_a_few_timed_out_takes() -> None:
    cql = Cql(timeouts=CAS_TIMEOUTS + 1)
    leases = CassandraLeases(cql)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        await leases.acquire("me", 1_000, prefer=0)
    assert len(cql.tried) == CAS_TIMEOUTS + 1
