"""Per-user posting limits like Twitter's: 2,400 a day, in shorter windows too.

Each window is a rate with a burst, kept by the generic cell rate algorithm (GCRA: one
"theoretical arrival time" per user and window, in this process's memory, no store round
trip): `count` posts per `seconds` on average, at most `count` at once, and a post frees its
place `seconds / count` later rather than at a fixed window's edge (a fixed window lets twice
the limit through across its boundary). Each answer says how much room is left: the IETF
draft's `RateLimit-Policy` and `RateLimit-Limit` / `-Remaining` / `-Reset` fields and the
`X-RateLimit-*` forms clients know, for the window with the least room.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.collect import Gathering, RequestNotes
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


@dataclass(frozen=True, slots=True)
class Quota:
    """The room one user has left in the window with the least of it, after a post."""

    limit: int
    remaining: int
    reset_s: int  # seconds until the window is whole again
    policy: str  # every window, as RateLimit-Policy lists them

    def headers(self) -> dict[str, str]:
        """The answer's rate-limit header fields."""
        limit, remaining, reset = str(self.limit), str(self.remaining), str(self.reset_s)
        return {
            "RateLimit-Policy": self.policy,
            "RateLimit-Limit": limit,
            "RateLimit-Remaining": remaining,
            "RateLimit-Reset": reset,
            "X-RateLimit-Limit": limit,
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": reset,
        }


QUOTAS: RequestNotes[Quota] = RequestNotes("quotas")


def quota_of_request() -> Gathering[Quota]:
    """`with quota_of_request() as quotas:` the quotas of the posts a request made."""
    return QUOTAS.gather()


class PostingLimiter:
    """Rate and burst per user and window (GCRA), kept by this ingest process."""

    def __init__(self, limits: list[tuple[int, int]], clock: Callable[[], float] = time.time):
        self.limits = limits
        self.clock = clock
        self.policy = ", ".join(f"{count};w={seconds}" for count, seconds in limits)
        self._tat: dict[tuple[int, int], float] = {}  # (user, seconds) -> arrival time

    def take(self, user_id: int) -> None:
        """Count one post, or raise RateLimited (counting nothing) if a window is full; the
        room left goes to the request's quotas (quota_of_request)."""
        if not self.limits:
            return
        now = self.clock()
        arrivals = []
        for limit, seconds in self.limits:
            step = seconds / limit
            tat = max(self._tat.get((user_id, seconds), now), now)
            if tat + step - now > seconds + 1e-9:  # no room: the next place frees later
                retry = max(1, math.ceil(tat + step - seconds - now))
                raise RateLimited(
                    f"at most {limit} posts per {seconds} s; try again in {retry} s",
                    retry_after_s=retry,
                )
            arrivals.append((limit, seconds, step, tat + step))
        tightest: Quota | None = None
        for limit, seconds, step, tat in arrivals:
            self._tat[(user_id, seconds)] = tat
            quota = Quota(
                limit,
                max(0, min(limit, math.floor((seconds - (tat - now)) / step + 1e-9))),
                max(0, math.ceil(tat - now)),
                self.policy,
            )
            if tightest is None or quota.remaining < tightest.remaining:
                tightest = quota
        if tightest is not None:
            QUOTAS.note(tightest)
        if len(self._tat) > MAX_TRACKED:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget users whose every window is whole again (their arrival time has passed)."""
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}
