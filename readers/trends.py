"""The top hashtags of each trends window, computed once per cache period, off the event loop.

Summing a window's per-minute counts and ranking every tag costs time in the number of tags
(hundreds of thousands on a busy day); done per request on the event loop, it stalls every
other request. Here the sum and the ranking run in a worker thread, at most once per
TIMELINE_TRENDS_CACHE_S per window (concurrent requests wait for the same computation), and
only the top `keep` tags are kept: a request then costs a slice of them.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable, Sequence

from engine.cache import TtlCache

Ranked = list[tuple[str, int]]
Sum = Callable[[Sequence[int]], Awaitable[dict[str, int]]]


def top(counts: dict[str, int], k: int) -> Ranked:
    """The k tags with the highest counts, ties by tag, in O(n log k)."""
    best = heapq.nsmallest(k, counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(tag, n) for tag, n in best]


class TopTrends:
    """Per window: when its ranking was computed, and the top `keep` tags."""

    def __init__(self, window_sum: Sum, keep: int, cache_s: float) -> None:
        self.window_sum = window_sum
        self.keep = keep
        self.cache_s = cache_s
        self._ranked: TtlCache[int, Ranked] = TtlCache(cache_s)
        self._locks: dict[int, asyncio.Lock] = {}

    async def top(self, window_min: int, count: int) -> Ranked:
        """The `count` (at most `keep`) top tags of the last `window_min` minutes."""
        return (await self._ranking(window_min))[:count]

    async def _ranking(self, window_min: int) -> Ranked:
        cached = self._ranked.peek(window_min)
        if cached is not None:
            return cached
        async with self._locks.setdefault(window_min, asyncio.Lock()):
            # another request may have computed it meanwhile
            return await self._ranked.get(window_min, self._rank)

    async def _rank(self, window_min: int) -> Ranked:
        this_minute = int(time.time() // 60)
        counts = await self.window_sum(range(this_minute - window_min + 1, this_minute + 1))
        return await asyncio.to_thread(top, counts, self.keep)
