"""The WorkerLeases port: one holder per worker id, and a high-water mark that only grows."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.config import PREFIX, Settings
from engine.errors import LeaseLost
from engine.ports import Backend, WorkerLease, WorkerLeases
from engine.worker_ids import wall_clock_ms
from tests.support import eventually

REPO = Path(__file__).resolve().parents[2]
LEASE_MS = Settings().worker_lease_s * 1000


def owner() -> str:
    return f"test/{uuid.uuid4().hex[:8]}"


def somewhere() -> int:
    """A worker id to scan from, so tests sharing a keyspace seldom meet."""
    return random.randrange(1024)


@pytest_asyncio.fixture
async def leases(backend: Backend) -> AsyncIterator[WorkerLeases]:
    yield backend.leases


async def test_concurrent_holders_never_get_the_same_worker_id(leases: WorkerLeases) -> None:
    prefer, now = somewhere(), wall_clock_ms()
    taken = await asyncio.gather(*(leases.acquire(owner(), now, prefer) for _ in range(12)))
    try:
        assert len({lease.worker for lease in taken}) == 12
        assert all(0 <= lease.worker <= 1023 for lease in taken)
        assert all(lease.mark_ms >= now + LEASE_MS for lease in taken)
    finally:
        await asyncio.gather(*(leases.release(lease) for lease in taken))


async def test_a_held_worker_id_is_not_taken_again(leases: WorkerLeases) -> None:
    held = await leases.acquire(owner(), wall_clock_ms(), somewhere())
    later = held.mark_ms + 1  # even once its mark has passed, a live holder keeps its id
    other = await leases.acquire(owner(), later, held.worker)
    assert other.worker != held.worker
    await leases.release(other)
    await leases.release(held)


async def test_a_released_worker_id_is_taken_again_above_its_mark(leases: WorkerLeases) -> None:
    first = await leases.acquire(owner(), wall_clock_ms(), somewhere())
    await leases.release(first)
    assert await leases.mark(first.worker) == first.mark_ms  # released, the mark stays
    later = first.mark_ms + 1
    again = await leases.acquire(owner(), later, first.worker)
    assert again.worker == first.worker
    assert again.floor_ms == first.mark_ms  # its ids start strictly above the old mark
    assert again.mark_ms == later + LEASE_MS
    await leases.release(again)


async def test_an_id_whose_mark_is_ahead_is_passed_over_for_a_free_one(
    leases: WorkerLeases,
) -> None:
    first = await leases.acquire(owner(), wall_clock_ms(), somewhere())
    await leases.release(first)
    again = await leases.acquire(owner(), wall_clock_ms(), first.worker)
    assert again.worker != first.worker and again.floor_ms < wall_clock_ms()
    await leases.release(again)


async def test_a_renewal_raises_the_mark_and_never_lowers_it(leases: WorkerLeases) -> None:
    now = wall_clock_ms()
    lease = await leases.acquire(owner(), now, somewhere())
    renewed = await leases.renew(lease, now + 60_000)
    assert (renewed.worker, renewed.floor_ms) == (lease.worker, lease.floor_ms)
    assert renewed.mark_ms == now + 60_000 + LEASE_MS
    assert await leases.mark(lease.worker) == renewed.mark_ms
    stepped_back = await leases.renew(renewed, now - 3_600_000)  # a clock stepped back an hour
    assert stepped_back.mark_ms == renewed.mark_ms
    assert await leases.mark(lease.worker) == renewed.mark_ms
    await leases.release(stepped_back)


async def test_a_released_lease_cannot_be_renewed(leases: WorkerLeases) -> None:
    lease = await leases.acquire(owner(), wall_clock_ms(), somewhere())
    await leases.release(lease)
    with pytest.raises(LeaseLost):
        await leases.renew(lease, wall_clock_ms())
    assert await leases.mark(lease.worker) == lease.mark_ms


async def test_a_dead_holder_frees_its_id_but_its_mark_stays(
    settings: Settings, leases: WorkerLeases
) -> None:
    """On Cassandra the owner's TTL runs out; on the embedded backend the OS drops the lock."""
    short = dataclasses.replace(settings, worker_lease_s=1.0, worker_lease_renew_s=0.5)
    worker, mark = await lease_in_a_child_and_kill_it(short, somewhere())
    assert await leases.mark(worker) == mark

    async def take() -> WorkerLease:
        lease = await leases.acquire(owner(), mark + 1, worker)
        if lease.worker != worker:
            await leases.release(lease)
        return lease

    again = await eventually(take, lambda lease: lease.worker == worker, timeout_s=20)
    assert again.floor_ms == mark and again.mark_ms > mark
    assert await leases.mark(worker) == again.mark_ms
    await leases.release(again)


async def lease_in_a_child_and_kill_it(settings: Settings, prefer: int) -> tuple[int, int]:
    """(worker, mark) a child process leased before it was SIGKILLed."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.contract.lease_child", str(prefer),
        cwd=REPO, env=settings_env(settings), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    child.send_signal(signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    worker, mark = line.split()
    return int(worker), int(mark)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = dict(os.environ)
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        env[PREFIX + field.name.upper()] = text
    return env
