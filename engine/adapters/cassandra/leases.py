"""Worker-id leases on Cassandra: one row per worker id, taken and renewed by LWT.

Each row holds `owner` (written with a TTL of the lease, so a dead holder's lease expires)
and `mark_ms` (written without a TTL, so it outlives every owner). Both are written in one
conditional batch: taking an id is `IF owner = null AND mark_ms = <the mark just read>`, so a
take is a compare-and-set of the mark and never lowers it; a renewal is `IF owner = <me>`,
so a holder whose lease expired and was taken by another can no longer move the mark. The
session runs conditions at LOCAL_SERIAL and writes at LOCAL_QUORUM.
"""

from __future__ import annotations

import math
from typing import Any

from cassandra import WriteTimeout

from engine.adapters.cassandra.base import OnSession
from engine.adapters.cassandra.session import CqlSession
from engine.errors import IdsUnavailable, LeaseLost, StoreUnavailable
from engine.ids import MAX_WORKER
from engine.ports import WorkerLease, WorkerLeases

WORKERS = MAX_WORKER + 1
CAS_TIMEOUTS = 3  # contended takes that timed out before acquire gives up (Cassandra is slow)
_SET_MARK = "UPDATE worker_leases SET mark_ms = ? WHERE worker = ? "
_TAKE_NEW = _SET_MARK + "IF owner = null AND mark_ms = null"
_TAKE_FREED = _SET_MARK + "IF owner = null AND mark_ms = ?"
_RENEW = _SET_MARK + "IF owner = ?"
_OWN = "UPDATE worker_leases USING TTL ? SET owner = ? WHERE worker = ?"


class CassandraLeases(OnSession, WorkerLeases):
    """Worker-id leases in the worker_leases table."""

    def __init__(self, cql: CqlSession) -> None:
        super().__init__(cql)
        lease_s = cql.settings.worker_lease_s
        self.lease_ms = round(lease_s * 1000)
        self.ttl_s = max(1, math.ceil(lease_s))
        self._written: dict[int, int] = {}  # the highest mark this process tried to store

    async def acquire(self, owner: str, now_ms: int, prefer: int = 0) -> WorkerLease:
        rows = await self.cql.run("SELECT worker, owner, mark_ms FROM worker_leases", op="lease")
        marks = {int(w): -1 if m is None else int(m) for w, o, m in rows if o is None}
        held = {int(w) for w, o, _ in rows if o is not None}
        contended = 0
        for worker in _candidates(marks, held, now_ms, prefer):
            stored = marks.get(worker, -1)
            mark = self._next_mark(worker, max(stored, now_ms + self.lease_ms))
            own = (_OWN, (self.ttl_s, owner, worker))
            try:
                if await self._applied([_take(worker, stored, mark), own]):
                    return WorkerLease(worker, owner, stored, mark)
            except StoreUnavailable as e:
                # Processes starting together contend for the same id, and a contended
                # compare-and-set can time out with its outcome unknown. Try the next id: if
                # this one was taken after all, its owner expires with the lease's TTL unused,
                # and its mark only ever rose (_next_mark), so no id is issued twice.
                contended += 1
                if not isinstance(e.__cause__, WriteTimeout) or contended > CAS_TIMEOUTS:
                    raise
        raise IdsUnavailable("every worker id 0..1023 is held by another process")

    async def renew(self, lease: WorkerLease, now_ms: int) -> WorkerLease:
        worker, owner = lease.worker, lease.owner
        mark = self._next_mark(worker, max(lease.mark_ms, now_ms + self.lease_ms))
        renew = (_RENEW, (mark, worker, owner))
        if not await self._applied([renew, (_OWN, (self.ttl_s, owner, worker))]):
            raise LeaseLost(f"worker id {worker} is no longer held by {owner}")
        return WorkerLease(worker, owner, lease.floor_ms, mark)

    async def release(self, lease: WorkerLease) -> None:
        await self.cql.run(
            "DELETE owner FROM worker_leases WHERE worker = ? IF owner = ?",
            (lease.worker, lease.owner),
            op="lease",
        )

    async def mark(self, worker: int) -> int:
        rows = await self.cql.run(
            "SELECT mark_ms FROM worker_leases WHERE worker = ?", (worker,), op="lease"
        )
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    def _next_mark(self, worker: int, mark: int) -> int:
        """The mark to write: never below one this process tried before, whose write may
        have landed though its answer was lost."""
        mark = max(mark, self._written.get(worker, -1))
        self._written[worker] = mark
        return mark

    async def _applied(self, statements: list[tuple[str, tuple[Any, ...]]]) -> bool:
        rows = await self.cql.run_together(statements, op="lease")
        return bool(rows[0][0])


def _take(worker: int, stored: int, mark: int) -> tuple[str, tuple[Any, ...]]:
    """The condition that takes a free id: its mark is still the one read (none: no row)."""
    if stored < 0:
        return _TAKE_NEW, (mark, worker)
    return _TAKE_FREED, (mark, worker, stored)


def _candidates(marks: dict[int, int], held: set[int], now_ms: int, prefer: int) -> list[int]:
    """Free worker ids: those whose mark has passed in scan order from `prefer`, then the
    rest by lowest mark."""
    order = [(prefer + i) % WORKERS for i in range(WORKERS)]
    free = [(marks.get(w, -1), w) for w in order if w not in held]
    passed = [w for mark, w in free if mark < now_ms]
    ahead = [w for _, w in sorted(m for m in free if m[0] >= now_ms)]
    return passed + ahead
