"""A returning user's home timeline is rebuilt before the first page is served.

Readers record home reads in the ActivityStore (read-side state, not a projection of the log),
at most once per `activity_touch_s` per user, known from an in-process cache. Fan-out
(fanout/activity.py) skips followers whose last read is older than `inactive_after_s`. When
such a user reads again, readers (1) mark them active and reactivated, (2) rebuild their home
timeline from the recent tweets of those they follow, (3) serve the page.

Why no tweet is lost. Fan-out writes a tweet into its author's user timeline before it
decides whom to fan it out to, and decides with an activity view read at most C =
`activity_cache_s` earlier (the cache stamps an entry with the time its query was issued).
Let R be the time the reactivation was written. A tweet that fan-out skipped for the returning
user was decided on a view read before R, so the decision came before R + C and its user
timeline row was written before then too. A rebuild that starts after R + C (+ a margin M =
`activity_margin_s` for write latency and clock skew between hosts) therefore finds it. So
readers keep the reactivation time and the start of the last rebuild, and while the last
rebuild did not start after R + C + M, every home read rebuilds again before serving (the
rebuild is idempotent and cheap). Each page is then complete: a tweet whose user-timeline row
exists when the read starts is either in the home timeline (fan-out saw the user active) or
found by the rebuild of this read (it saw them inactive, and either that decision preceded
this rebuild, or this read comes after R + C + M and the settled rebuild found it).

Missing state never loses a tweet: fan-out treats a user with no activity row as active, and
readers treat them as returning (one rebuild). A user is also treated as returning from
`inactive_after_s - activity_margin_s`, so a fan-out host whose clock runs ahead cannot skip a
user whom readers still consider active.

Rebuilt rows carry the tweet's own time (from its id), which is no later than the event time
fan-out writes: a delete, an unfollow's cleanup or a trim written after the tweet still wins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from engine.config import Settings
from engine.ids import id_ms
from engine.metrics import Metrics
from engine.ports import Activity, Backend
from engine.records import PageQuery, Tweet
from readers.pages import merge

MAX_FOLLOWING = 5000  # followees read per rebuild (Twitter's long-standing follow limit)
READ_CONCURRENCY = 64  # user timelines read at once by one rebuild
MIN_PER_AUTHOR = 20  # tweets of each followee read first
ROWS_PER_WRITE = 50  # home rows per write: an unlogged batch well under Cassandra's 50 KiB limit
MAX_KNOWN = 100_000


def now_us() -> int:
    """Wall-clock Unix microseconds."""
    return time.time_ns() // 1000


class HomeActivity:
    """Records home reads and rebuilds the home timeline of a user who returns."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        s = settings
        self.enabled = s.inactive_after_s > 0
        self.returning_us = int((s.inactive_after_s - s.activity_margin_s) * 1e6)
        self.touch_us = int(min(s.activity_touch_s, s.inactive_after_s / 4) * 1e6)
        self.settle_us = int((s.activity_cache_s + s.activity_margin_s) * 1e6)
        self._known: dict[int, Activity] = {}  # what the store holds, as last read or written
        self._locks: dict[int, asyncio.Lock] = {}

    def fresh(self, user_id: int) -> bool:
        """True when this process knows of a recent read and no rebuild is due: nothing to do."""
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

    async def before_read(self, user_id: int, metrics: Metrics) -> None:
        """Record the read; on a return, or while settling, rebuild the home timeline first."""
        if len(self._locks) >= MAX_KNOWN:
            self._locks.clear()  # at worst two reads of one user visit at once: idempotent
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            if not self.fresh(user_id):
                self._remember(await self._visit(user_id, metrics))

    async def _visit(self, user_id: int, metrics: Metrics) -> Activity:
        now = now_us()
        row = await self.backend.activity.activity(user_id)
        if row is None or now - row.last_read_us > self.returning_us:
            await self.backend.activity.mark_read(user_id, now, reactivated=True)
            rebuilt = row.rebuilt_us if row is not None else 0
            return await self._rebuild(Activity(user_id, now, now, rebuilt), "returned", metrics)
        if not self.settled(row):
            row = await self._rebuild(row, "settling", metrics)
        if now - row.last_read_us >= self.touch_us:
            await self.backend.activity.mark_read(user_id, now)
            row = dataclasses.replace(row, last_read_us=now)
        return row

    async def _rebuild(self, row: Activity, reason: str, metrics: Metrics) -> Activity:
        started = now_us()
        await rebuild_home(self.backend, self.settings, row.user_id)
        await self.backend.activity.mark_rebuilt(row.user_id, started)
        metrics.home_rebuilds.labels(reason).inc()
        return dataclasses.replace(row, rebuilt_us=max(row.rebuilt_us, started))

    def _remember(self, row: Activity) -> None:
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[row.user_id] = row


async def rebuild_home(backend: Backend, settings: Settings, user_id: int) -> int:
    """Write the newest tweets of those the user follows into their home timeline; how many.

    Each followee's user timeline is read newest first (only as deep as needed), merged, and
    capped at home_timeline_cap; high-follower authors are left out (readers merge them).
    The rows are the ones fan-out writes, at the tweet's own time, so a rebuild is idempotent.
    """
    cap = settings.home_timeline_cap
    followees, celebrities = await asyncio.gather(
        backend.graph.following_ids(user_id, MAX_FOLLOWING), backend.timelines.celebrities()
    )
    authors = [a for a in (user_id, *followees) if a not in celebrities]
    newest = await newest_of(backend, authors, cap)
    rows = [(t, id_ms(t.id) * 1000) for t in newest]
    await asyncio.gather(
        *(
            backend.timelines.add_home_rows(user_id, rows[i : i + ROWS_PER_WRITE])
            for i in range(0, len(rows), ROWS_PER_WRITE)
        )
    )
    await _drop_unfollowed(backend, user_id, newest)
    if rows:
        await backend.timelines.trim_home(user_id, cap)
    return len(rows)


async def newest_of(backend: Backend, authors: list[int], cap: int) -> list[Tweet]:
    """The newest `cap` tweets of these authors, newest first, each timeline read only as deep
    as the answer needs: a first page of about 2 * cap / authors each, then deeper pages only
    of the authors whose page ended above the oldest tweet kept so far."""
    pages: dict[int, list[Tweet]] = {a: [] for a in authors}
    first = min(cap, max(MIN_PER_AUTHOR, -(-2 * cap // max(1, len(authors)))))
    due = {a: PageQuery(first) for a in authors}
    while due:
        found = await _read_pages(backend, due)
        for author, tweets in found.items():
            pages[author] += tweets
        newest = merge(pages.values(), cap)
        floor = newest[-1].id if len(newest) == cap else -1
        due = {
            a: PageQuery(min(cap, 2 * due[a].count), max_id=got[-1].id - 1)
            for a, got in found.items()
            if len(got) == due[a].count and got[-1].id > floor and len(pages[a]) < cap
        }
    return merge(pages.values(), cap)


async def _read_pages(backend: Backend, due: dict[int, PageQuery]) -> dict[int, list[Tweet]]:
    authors, found = list(due), []
    for start in range(0, len(authors), READ_CONCURRENCY):
        chunk = authors[start : start + READ_CONCURRENCY]
        found += await asyncio.gather(*(backend.timelines.user_page(a, due[a]) for a in chunk))
    return dict(zip(authors, found, strict=True))


async def _drop_unfollowed(backend: Backend, user_id: int, written: list[Tweet]) -> None:
    """Undo rows of an author unfollowed while the rebuild ran (its cleanup may have missed them).

    The removal is stamped with the tweet's own time: it loses to any later follow's backfill.
    """
    authors = sorted({t.author_id for t in written} - {user_id})
    still = set(await backend.graph.followed_among(user_id, authors))
    gone = [t for t in written if t.author_id != user_id and t.author_id not in still]
    await asyncio.gather(
        *(backend.timelines.remove_home_rows(user_id, [t.id], id_ms(t.id) * 1000) for t in gone)
    )
