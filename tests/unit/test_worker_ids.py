"""LeasedIds: a process issues ids up to its lease's mark, whatever its renewals do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from engine.config import Settings
from engine.errors import IdsUnavailable, LeaseLost, StoreUnavailable
from engine.ids import EPOCH_MS, id_ms, id_worker
from engine.metrics import Metrics
from engine.ports import WorkerLease, WorkerLeases
from engine.worker_ids import LeasedIds

pytestmark = pytest.mark.unit
LEASE_MS = 300_000
START = EPOCH_MS + 1_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = START

    def __call__(self) -> int:
        return self.ms


class FakeLeases(WorkerLeases):
    """Leases in memory; `down` makes the store fail, `lost` makes renewals find another owner."""

    def __init__(self) -> None:
        self.marks: dict[int, int] = {}
        self.owners: dict[int, str] = {}
        self.down = False
        self.released: list[WorkerLease] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def acquire(self, owner: str, now_ms: int, prefer: int = 0) -> WorkerLease:
        self._check()
        worker = next(w for w in range(prefer, 1024) if w not in self.owners)
        floor = self.marks.get(worker, -1)
        self.marks[worker] = max(floor, now_ms + LEASE_MS)
        self.owners[worker] = owner
        return WorkerLease(worker, owner, floor, self.marks[worker])

    async def renew(self, lease: WorkerLease, now_ms: int) -> WorkerLease:
        self._check()
        if self.owners.get(lease.worker) != lease.owner:
            raise LeaseLost("gone")
        self.marks[lease.worker] = max(self.marks[lease.worker], now_ms + LEASE_MS)
        return WorkerLease(lease.worker, lease.owner, lease.floor_ms, self.marks[lease.worker])

    async def release(self, lease: WorkerLease) -> None:
        self.released.append(lease)
        self.owners.pop(lease.worker, None)

    async def mark(self, worker: int) -> int:
        return self.marks.get(worker, -1)

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("down")


@pytest_asyncio.fixture
async def leases() -> AsyncIterator[FakeLeases]:
    yield FakeLeases()


@pytest_asyncio.fixture
async def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def ids(leases: FakeLeases, clock: Clock) -> AsyncIterator[LeasedIds]:
    """Started; its own renewals (every 60 s) do not come within a test."""
    leased = LeasedIds(leases, Settings(), Metrics(), clock)
    await leased.start()
    yield leased
    await leased.stop()


async def test_a_failed_renewal_stops_nothing_before_the_deadline(
    leases: FakeLeases, clock: Clock, ids: LeasedIds
) -> None:
    leases.down = True
    clock.ms += LEASE_MS // 2
    with pytest.raises(StoreUnavailable):
        await ids.renew_once()
    assert id_ms(ids.generator.next_id()) == clock.ms
    clock.ms = START + LEASE_MS  # the deadline itself
    assert id_ms(ids.generator.next_id()) == clock.ms
    clock.ms += 1
    with pytest.raises(IdsUnavailable):
        ids.generator.next_id()
    leases.down = False
    await ids.renew_once()
    assert id_ms(ids.generator.next_id()) == clock.ms


async def test_each_renewal_moves_the_deadline(
    leases: FakeLeases, clock: Clock, ids: LeasedIds
) -> None:
    clock.ms += 60_000
    await ids.renew_once()
    assert ids.generator.mark_ms == clock.ms + LEASE_MS == leases.marks[ids.generator.worker]


async def test_a_lost_lease_is_replaced_by_another_worker_id_above_its_mark(
    leases: FakeLeases, clock: Clock
) -> None:
    leases.marks[1] = START + 5  # an earlier holder of worker id 1 issued ids up to here
    ids = LeasedIds(leases, Settings(), Metrics(), clock)
    await ids.start()
    first = ids.generator.next_id()
    leases.owners[0] = "someone else"
    await ids.renew_once()
    assert ids.lease is not None and ids.lease.worker == 1
    clock.ms = START + 6
    after = ids.generator.next_id()
    assert id_worker(after) == 1 and id_ms(after) == START + 6 and after > first
    await ids.stop()


async def test_ids_start_above_the_mark_found_and_stop_releases_the_lease(
    leases: FakeLeases, clock: Clock
) -> None:
    leases.marks[0] = START + 2
    ids = LeasedIds(leases, Settings(), Metrics(), clock)
    await ids.start()
    assert ids.lease is not None and ids.lease.floor_ms == START + 2
    clock.ms = START + 3
    assert id_ms(ids.generator.next_id()) == START + 3
    lease = ids.lease
    await ids.stop()
    assert leases.released == [lease] and ids.lease is None
