"""Which followers fan-out skips: those who have not read their home timeline for a while.

Activity is read-side state (engine.ports.ActivityStore), not a projection of the log. Fan-out
reads the activity of a batch's audience in bulk (one query per chunk of ids) through a short
in-process cache. A follower with no known activity counts as active, so a lost or never-written
row costs home-timeline writes, never a tweet.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from engine.cache import TtlCache
from engine.config import Settings
from engine.home_rebuild import skip_after_us
from engine.ports import ActivityStore

MAX_CACHED = 1_000_000
LastRead = tuple[int | None]  # a user's last read in µs, or None where none is known


class ActivityView:
    """The inactive followers among an audience, each looked up at most once per cache TTL.

    An entry is held from the time its query was *issued* (engine.cache.TtlCache), so a view
    that may have missed a reactivation is never used longer than `activity_cache_s` after that
    reactivation was written: the bound engine/home_rebuild.py relies on to close the race.
    """

    def __init__(self, settings: Settings, store: ActivityStore) -> None:
        self.inactive_after_us = skip_after_us(settings)
        self.store = store
        self._seen: TtlCache[int, LastRead] = TtlCache(settings.activity_cache_s, MAX_CACHED)

    async def inactive_among(self, user_ids: Iterable[int]) -> set[int]:
        """Those of the users whose last read is older than inactive_after_s."""
        if self.inactive_after_us <= 0:
            return set()
        last = await self._last_reads(set(user_ids))
        cutoff = time.time_ns() // 1000 - self.inactive_after_us
        return {u for u, read in last.items() if read is not None and read < cutoff}

    async def _last_reads(self, ids: set[int]) -> dict[int, int | None]:
        """Each user's last read: held ones as held, the others in one query."""
        last: dict[int, int | None] = {}
        stale = []
        for u in ids:
            held = self._seen.peek(u)
            if held is None:
                stale.append(u)
            else:
                last[u] = held[0]
        if stale:
            issued = self._seen.now()
            found = await self.store.last_reads(stale)
            for u in stale:
                last[u] = found.get(u)
                self._seen.put(u, (last[u],), issued)
        return last

    async def registered(self, user_id: int, ts_us: int) -> None:
        """A registration counts as a read at the time it happened (replays change nothing)."""
        await self.store.mark_read(user_id, ts_us)
