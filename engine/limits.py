"""Per-user posting limits like Twitter's: 2,400 a day, in shorter windows too."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.errors import RateLimited

MAX_TRACKED = 1_000_000


def parse_limits(spec: str) -> list[tuple[int, int]]:
    """`count/seconds,...` as (count, seconds) pairs; `off` means none."""
    if spec.strip().lower() in ("off", ""):
        return []
    limits = []
    for part in spec.split(","):
        count, _, seconds = part.strip().partition("/")
        if not count.isdigit() or not seconds.isdigit() or int(count) < 1 or int(seconds) < 1:
            raise ValueError(f"TIMELINE_RATE_LIMITS entry {part!r} must be count/seconds")
        limits.append((int(count), int(seconds)))
    return limits


class PostingLimiter:
    """Fixed-window counters per user and window, kept by this ingest process."""

    def __init__(self, limits: list[tuple[int, int]], clock: Callable[[], float] = time.time):
        self.limits = limits
        self.clock = clock
        self._counts: dict[tuple[int, int, int], int] = {}

    def take(self, user_id: int) -> None:
        """Count one post, or raise RateLimited (counting nothing) if a window is full."""
        now = self.clock()
        keys = [(user_id, seconds, int(now // seconds)) for _, seconds in self.limits]
        for (limit, seconds), key in zip(self.limits, keys, strict=True):
            if self._counts.get(key, 0) >= limit:
                retry = int(seconds - now % seconds) + 1
                raise RateLimited(
                    f"at most {limit} posts per {seconds} s; try again in {retry} s",
                    retry_after_s=retry,
                )
        for key in keys:
            self._counts[key] = self._counts.get(key, 0) + 1
        if len(self._counts) > MAX_TRACKED:
            self._prune(now)

    def _prune(self, now: float) -> None:
        self._counts = {key: n for key, n in self._counts.items() if key[2] == int(now // key[1])}
