"""A returning user's home timeline is rebuilt before the first page is served.

Readers record home reads in the ActivityStore, at most once per `activity_touch_s` per user,
known from an in-process cache. A user whose last read is older than fan-out's skip bound
returns: they are marked active and reactivated and their home timeline is rebuilt
(engine/home_rebuild.py, where the proof that no tweet is lost lives) before the page is
served, and rebuilt again on every read until a rebuild started late enough to settle.

An activity row is only ever written for a registered user: by fan-out when the log holds the
user's registration (which the log holds only once it won its claim, engine/registrations.py),
and by readers once they found the user registered. Registrations never go away, so a row found
proves the registration, and the registry is read only for a user with no row. A user's first
home read in a process therefore costs one activity read (and no registry read once fan-out
marked their registration); later ones, none until the touch interval has passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

from engine.config import Settings
from engine.home_rebuild import rebuild_home, returning_after_us, settle_us
from engine.metrics import Metrics
from engine.ports import Activity, Backend

MAX_KNOWN = 100_000
RegistryCheck = Callable[[], Awaitable[None]]
"""Raises NotFound unless the user is registered."""


def now_us() -> int:
    """Wall-clock Unix microseconds."""
    return time.time_ns() // 1000


class HomeActivity:
    """Records home reads and rebuilds the home timeline of a user who returns."""

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        s = settings
        self.enabled = s.inactive_after_s > 0
        self.returning_us = returning_after_us(s)
        self.touch_us = int(min(s.activity_touch_s, s.inactive_after_s / 4) * 1e6)
        self.settle_us = settle_us(s)
        self._known: dict[int, Activity] = {}  # what the store holds, as last read or written
        self._locks: dict[int, asyncio.Lock] = {}

    def fresh(self, user_id: int) -> bool:
        """True when this process knows of a recent read and no rebuild is due: nothing to do.

        While enabled, a user is fresh only once before_read() found their activity row or
        found them registered, so a fresh user is registered (which they stay)."""
        if not self.enabled:
            return True
        known = self._known.get(user_id)
        return (
            known is not None
            and self.settled(known)
            and now_us() - known.last_read_us < self.touch_us
        )

    def settled(self, row: Activity) -> bool:
        """False while a rebuild may still be needed after the user's last return."""
        return row.reactivated_us == 0 or row.rebuilt_us > row.reactivated_us + self.settle_us

    async def before_read(self, user_id: int, require_user: RegistryCheck) -> None:
        """Before a home read: NotFound unless the user is registered; record the read, and on
        a return, or while settling, rebuild the home timeline first.

        `require_user` runs only when nothing proves the registration already: activity is off
        (then every read checks, the registry's own cache making that cheap), or the store holds
        no activity row of the user. Nothing is written for a user who is not registered."""
        if not self.enabled:
            await require_user()
            return
        if self.fresh(user_id):
            return
        if len(self._locks) >= MAX_KNOWN:
            self._locks.clear()  # at worst two reads of one user visit at once: idempotent
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            if not self.fresh(user_id):
                self._remember(await self._visit(user_id, require_user))

    async def _visit(self, user_id: int, require_user: RegistryCheck) -> Activity:
        now = now_us()
        row = await self.backend.activity.activity(user_id)
        if row is None:
            await require_user()  # no row proves the registration
        if row is None or now - row.last_read_us > self.returning_us:
            await self.backend.activity.mark_read(user_id, now, reactivated=True)
            rebuilt = row.rebuilt_us if row is not None else 0
            return await self._rebuild(Activity(user_id, now, now, rebuilt), "returned")
        if not self.settled(row):
            row = await self._rebuild(row, "settling")
        if now - row.last_read_us >= self.touch_us:
            await self.backend.activity.mark_read(user_id, now)
            row = dataclasses.replace(row, last_read_us=now)
        return row

    async def _rebuild(self, row: Activity, reason: str) -> Activity:
        started = now_us()
        await rebuild_home(self.backend, self.settings, row.user_id)
        await self.backend.activity.mark_rebuilt(row.user_id, started)
        self.metrics.home_rebuilds.labels(reason).inc()
        return dataclasses.replace(row, rebuilt_us=max(row.rebuilt_us, started))

    def _remember(self, row: Activity) -> None:
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[row.user_id] = row
