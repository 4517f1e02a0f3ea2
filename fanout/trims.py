"""When a capped timeline is checked for trimming: after every N rows written to it.

A trim costs a read (and a range delete when the timeline is over its cap), so it runs once
per `TIMELINE_HOME_TRIM_EVERY` rows this process wrote to a timeline, not on every write: a
timeline holds at most its cap plus that many rows per writing process between checks. The
counts are hints kept in memory; losing them (a restart, a bound reached) only delays a check.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_COUNTED = 1_000_000


class TrimSchedule:
    """Counts rows written per timeline since its last check; says which are due."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self._written: dict[int, int] = {}

    def due(self, written: Iterable[tuple[int, int]]) -> list[int]:
        """The timelines to check now, given (timeline, rows just written to it)."""
        counts = self._written
        if len(counts) > MAX_COUNTED:
            counts.clear()
        due = []
        for key, rows in written:
            n = counts.get(key, 0) + rows
            if n >= self.every:
                due.append(key)
                counts.pop(key, None)
            else:
                counts[key] = n
        return due
