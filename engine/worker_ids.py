"""Leased Snowflake worker ids: every process that issues ids holds a lease for its lifetime.

A process takes a free worker id from the backend's WorkerLeases (a lightweight transaction
on Cassandra, a lock file in the embedded data folder) and renews it every
TIMELINE_WORKER_LEASE_RENEW_S. Beside each lease the store keeps the worker id's high-water
mark: the last millisecond any holder may have issued ids for. Taking or renewing a lease at
time t stores a mark of t + TIMELINE_WORKER_LEASE_S, which is also the holder's deadline.

Invariant: no id is issued twice. Ids of different worker ids differ in their worker bits,
so only ids of one worker id w can collide. Each holder H of w issues ids only for
milliseconds in (F, M], where F is the mark H found when it took w and M the highest mark
the store acknowledged to H (its generator refuses above M; a mark whose write was not
acknowledged is never used; within one holder, ids strictly increase).

Proof. (1) The stored mark of w only grows: a take is a compare-and-set from the mark just
read to a value at or above it, and a renewal writes no less than any mark its holder
attempted before (an attempt whose answer was lost may have landed). (2) Holders of w are
ordered: a take succeeds only while w has no owner (a lightweight transaction, or an flock
that one process at a time can hold), and once H' has taken w, H's renewals fail (`IF owner
= H`, or H's lock is gone), so every mark acknowledged to H was stored before H' read F'
(in the same compare-and-set on Cassandra; after taking the lock H released or lost with
its process, embedded).
By (1), F' >= M. So H' issues ids above F' >= M, and H at or below M: disjoint. A clock
stepped back changes nothing: the floor comes from the store, not from the clock, and a
generator whose clock is behind its floor waits out a few milliseconds or refuses
(ClockMovedBackwards) until the clock passes it.

Availability: a failed renewal stops nothing; the generator keeps issuing ids up to the mark
it has, so a store outage shorter than the lease (minus one renewal interval) never stops
posting. Past its mark it answers 503 `ids_unavailable` with Retry-After. A TTL may expire
an owner whose process died (Cassandra), or the OS drops its lock (embedded); the mark stays.
The next holder of a released or expired id starts above its mark: taking prefers free ids
whose mark has passed, so a restarted process does not wait for its old lease's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from engine.config import Settings
from engine.errors import LeaseLost, Unavailable
from engine.ids import IdGenerator
from engine.lifecycle import Background
from engine.metrics import Metrics
from engine.ports import WorkerLease, WorkerLeases

log = logging.getLogger(__name__)
RETRY_S = 5.0  # how soon a failed renewal or take is tried again (at most the renewal interval)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class LeasedIds(Background):
    """Holds one worker-id lease for this process and keeps its IdGenerator inside it: the
    lease is taken by start(), renewed by the background task, and released by stop()."""

    task_name = "worker-lease"

    def __init__(
        self,
        leases: WorkerLeases,
        settings: Settings,
        metrics: Metrics,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.leases = leases
        self.renew_s = settings.worker_lease_renew_s
        self.metrics = metrics
        self.clock_ms = clock_ms
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.lease: WorkerLease | None = None
        self._generator: IdGenerator | None = None

    @property
    def generator(self) -> IdGenerator:
        """The generator of this process's ids (after start)."""
        if self._generator is None:
            raise RuntimeError("LeasedIds is not started")
        return self._generator

    async def _open(self) -> None:
        lease = await self.leases.acquire(self.owner, self.clock_ms())
        self._generator = IdGenerator(
            lease.worker, self.clock_ms, floor_ms=lease.floor_ms, mark_ms=lease.mark_ms
        )
        self._hold(lease)
        log.info("leased worker id %s, above mark %s", lease.worker, lease.floor_ms)

    async def _close(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                await self.leases.release(lease)
            except Unavailable as e:  # the lease expires by itself; its mark stays
                log.warning("could not release worker id %s: %s", lease.worker, e)

    async def renew_once(self) -> None:
        """Renew the lease now (or take a new one if it was lost); raise if the store fails."""
        assert self.lease is not None
        try:
            lease = await self.leases.renew(self.lease, self.clock_ms())
        except LeaseLost:
            self._count("lost")
            log.error("worker id %s was lost; taking another", self.lease.worker)
            lease = await self.leases.acquire(self.owner, self.clock_ms(), self.lease.worker)
            self.generator.adopt(lease.worker, lease.floor_ms, lease.mark_ms)
        except Unavailable:
            self._count("failed")
            raise
        else:
            self.generator.extend(lease.mark_ms)
        self._count("ok")
        self._hold(lease)

    async def _run(self) -> None:
        """Renew every renewal interval; after a failure, again within RETRY_S."""
        wait = self.renew_s
        while True:
            await asyncio.sleep(wait)
            wait = min(self.renew_s, RETRY_S)
            try:
                await self.renew_once()
            except Unavailable as e:
                log.warning("worker-id lease renewal failed (ids until its mark): %s", e)
            except Exception:
                log.exception("worker-id lease renewal failed (ids until its mark)")
            else:
                wait = self.renew_s

    def _hold(self, lease: WorkerLease) -> None:
        self.lease = lease
        self.metrics.id_worker.set(lease.worker)
        self.metrics.id_mark.set(lease.mark_ms / 1000)

    def _count(self, outcome: str) -> None:
        self.metrics.lease_renewals.labels(outcome).inc()
