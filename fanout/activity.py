"""Which followers fan-out skips: those who have not read their home timeline for a while.

Activity is read-side state (engine.ports.ActivityStore), not a projection of the log. Fan-out
reads the activity of a batch's audience in bulk (one query per chunk of ids) through a short
in-process cache. A follower with no known activity counts as active, so a lost or never-written
row costs home-timeline writes, never a tweet.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from math import inf

from engine.config import Settings
from engine.home_rebuild import skip_after_us
from engine.ports import ActivityStore

MAX_CACHED = 1_000_000
Seen = tuple[float, int | None]  # (monotonic time the read was issued, last read µs or None)


class ActivityView:
    """The inactive followers among an audience, each looked up at most once per cache TTL.

    An entry is stamped with the time its query was *issued*, so a view that may have missed a
    reactivation is never used longer than `activity_cache_s` after that reactivation was
    written: the bound engine/home_rebuild.py relies on to close the race.
    """

    def __init__(self, settings: Settings, store: ActivityStore) -> None:
        self.inactive_after_us = skip_after_us(settings)
        self.ttl_s = settings.activity_cache_s
        self.store = store
        self._seen: dict[int, Seen] = {}

    async def inactive_among(self, user_ids: Iterable[int]) -> set[int]:
        """Those of the users whose last read is older than inactive_after_s."""
        if self.inactive_after_us <= 0:
            return set()
        ids = set(user_ids)
        await self._refresh(ids)
        cutoff = time.time_ns() // 1000 - self.inactive_after_us
        return {u for u in ids if (last := self._seen[u][1]) is not None and last < cutoff}

    async def _refresh(self, ids: set[int]) -> None:
        issued = time.monotonic()
        if len(self._seen) + len(ids) > MAX_CACHED:
            self._seen.clear()
        stale = [u for u in ids if issued - self._seen.get(u, (-inf, None))[0] >= self.ttl_s]
        if stale:
            found = await self.store.last_reads(stale)
            self._seen.update((u, (issued, found.get(u))) for u in stale)

    async def registered(self, user_id: int, ts_us: int) -> None:
        """A registration counts as a read at the time it happened (replays change nothing)."""
        await self.store.mark_read(user_id, ts_us)
