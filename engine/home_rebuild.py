"""The home rebuild of a returning user: the one writer of home rows outside fan-out.

Readers record home reads in the ActivityStore (read-side state, not a projection of the log),
at most once per `activity_touch_s` per user, known from an in-process cache. Fan-out
(fanout/activity.py) skips followers whose last read is older than `inactive_after_s`
(`skip_after_us`). When such a user reads again, readers (readers/activity.py) (1) mark them
active and reactivated, (2) rebuild their home timeline here (`rebuild_home`) from the recent
tweets of those they follow, (3) serve the page.

Why no tweet is lost. Fan-out writes a tweet into its author's user timeline before it
decides whom to fan it out to, and decides with an activity view read at most C =
`activity_cache_s` earlier (the cache stamps an entry with the time its query was issued).
Let R be the time the reactivation was written. A tweet that fan-out skipped for the returning
user was decided on a view read before R, so the decision came before R + C and its user
timeline row was written before then too. A rebuild that starts after R + C (+ a margin M =
`activity_margin_s` for write latency and clock skew between hosts) therefore finds it. So
readers keep the reactivation time and the start of the last rebuild, and while the last
rebuild did not start after R + C + M (`settle_us`), every home read rebuilds again before
serving (the rebuild is idempotent and cheap). Each page is then complete: a tweet whose
user-timeline row exists when the read starts is either in the home timeline (fan-out saw the
user active) or found by the rebuild of this read (it saw them inactive, and either that
decision preceded this rebuild, or this read comes after R + C + M and the settled rebuild
found it).

Missing state never loses a tweet: fan-out treats a user with no activity row as active, and
readers treat them as returning (one rebuild). A user is also treated as returning from
`inactive_after_s - activity_margin_s` (`returning_after_us`), so a fan-out host whose clock
runs ahead cannot skip a user whom readers still consider active.

Rebuilt rows carry the tweet's own time (from its id), which is no later than the event time
fan-out writes: a delete, an unfollow's cleanup or a trim written after the tweet still wins.
"""

from __future__ import annotations

import asyncio

from engine.config import Settings
from engine.ids import id_ms
from engine.merge import merge
from engine.ports import Backend
from engine.records import PageQuery, Tweet

MAX_FOLLOWING = 5000  # followees read per rebuild (Twitter's long-standing follow limit)
READ_CONCURRENCY = 64  # user timelines read at once by one rebuild
MIN_PER_AUTHOR = 20  # tweets of each followee read first


def skip_after_us(settings: Settings) -> int:
    """How long after their last read fan-out skips a follower; 0 (or less) never skips."""
    return settings.inactive_after_s * 1_000_000


def returning_after_us(settings: Settings) -> int:
    """How long after their last read readers treat a user as returning (rebuild first)."""
    return int((settings.inactive_after_s - settings.activity_margin_s) * 1e6)


def settle_us(settings: Settings) -> int:
    """C + M: how long after a return a rebuild must start to be the last one needed."""
    return int((settings.activity_cache_s + settings.activity_margin_s) * 1e6)


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
    await backend.timelines.add_home_rows(user_id, rows)
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
