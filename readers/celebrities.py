"""High-follower authors at read time: whom a reader follows among them, and their recent tweets.

Fan-out writes no home rows for an author with more than TIMELINE_CELEBRITY_THRESHOLD
followers; readers merge such an author's own timeline into their followers' home pages. What
a page needs for that is held in memory, each part with a bounded staleness:

- the set of those authors: used while read less than C = TIMELINE_CELEBRITY_CACHE_S ago;
- the ones each reader follows: read when a page of theirs first needs them, then trusted for
  F = TIMELINE_FOLLOWED_CELEBRITIES_CACHE_S, or until the set of authors changes: a follow or
  unfollow of a high-follower author shows in the reader's home page within F of its
  projection;
- each such author's newest RECENT_DEPTH tweets: a page uses them while they were read less
  than C ago, and while pages use them they (and the set of authors) are read again in the
  background every C / 2 (an author no page asked for in IDLE_S is let go): a high-follower
  author's new tweet shows in, and a deleted one leaves, the home pages within C of the
  timelines projection writing it. A page whose range the held tweets do not cover reads the
  author's timeline instead.

So in the steady state a page costs no read for any of them. Pages that need an author's
tweets or a reader's followed authors at once share one read of them, issued less than C
(or F) before each such page came, so sharing keeps the bounds above. A read that presents a
Consistency-Token reads all three from the store (and holds what it found), sharing no read
issued before it: a client that just followed such an author, or is one and just posted,
sees its own write. With C = 0
(or F = 0) the corresponding parts are not held at all: every page reads them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.cache import SharedLoads, TtlCache
from engine.config import Settings
from engine.lifecycle import Background
from engine.ports import Backend
from engine.records import PageQuery
from readers.tweets import ReadyTweet, TweetJson

log = logging.getLogger(__name__)
HIGH_FOLLOWER_PAGE = "high_follower_page"
"""The op of a high-follower author's tweets read for home pages, counted apart from the
pages' own reads (timeline_cassandra_requests_total{op=...})."""
RECENT_DEPTH = 64  # newest tweets held per author: three default pages and then some
IDLE_S = 60.0  # an author no page asked for in this long is no longer refreshed
MIN_REFRESH_S = 0.05
REFRESH_CONCURRENCY = 64
MAX_AUTHORS = 10_000  # authors whose tweets are held
FOLLOWED_USERS = 100_000  # readers whose followed high-follower authors are held


@dataclass(slots=True)
class Recent:
    """An author's newest tweets (newest first) as read at `issued_at` (a clock reading taken
    before the read was issued); `complete` when the author had no older ones."""

    issued_at: float
    tweets: list[ReadyTweet]
    complete: bool
    used_at: float


def answer(recent: Recent, query: PageQuery) -> list[ReadyTweet] | None:
    """The query's page from an author's held tweets, or None when they may not hold all of it.

    They hold every tweet of the author no older than the oldest of them, so the newest
    `count` of the range found among them are its page, as are fewer when the held tweets reach
    down to the range's lower bound (since_id) or are all the author has."""
    upper, lower = query.bounds
    found: list[ReadyTweet] = []
    for tweet in recent.tweets:
        if tweet.id <= lower:
            return found  # the held tweets reach below the range: all of it is here
        if tweet.id <= upper:
            found.append(tweet)
            if len(found) == query.count:
                return found
    held = recent.tweets
    return found if recent.complete or (held and held[-1].id - 1 <= lower) else None


class HighFollowers(Background):
    """The high-follower authors whose tweets this process merges into home pages; between
    start() and stop() a task refreshes what is held (with C = 0 it has nothing to do)."""

    task_name = "high-follower-refresh"

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        tweets: TweetJson,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.tweets = tweets
        self.ttl_s = settings.celebrity_cache_s
        self.clock = clock
        self._authors: TtlCache[None, frozenset[int]] = TtlCache(self.ttl_s, 1, clock)
        self._last_authors: frozenset[int] = frozenset()
        self._authors_lock = asyncio.Lock()
        self._followed: TtlCache[int, tuple[frozenset[int], list[int]]] = TtlCache(
            settings.followed_celebrities_cache_s, FOLLOWED_USERS, clock
        )
        self.recent: dict[int, Recent] = {}
        self._loading: SharedLoads[int, Recent] = SharedLoads(self.ttl_s, clock)
        self._following: SharedLoads[tuple[int, frozenset[int]], list[int]] = SharedLoads(
            settings.followed_celebrities_cache_s, clock
        )

    def held(self, user_id: int, query: PageQuery) -> list[list[ReadyTweet]] | None:
        """The pages of pages() when everything they need is held and fresh, else None."""
        authors = self._authors.peek(None)
        if authors is None:
            return None
        if not authors:
            return []
        followed = self._followed.peek(user_id)
        if followed is None or followed[0] is not authors:
            return None
        pages = []
        for author in _merged_authors(user_id, authors, followed[1]):
            page = self._held_page(author, query)
            if page is None:
                return None
            pages.append(page)
        return pages

    async def pages(
        self, user_id: int, query: PageQuery, fresh: bool = False
    ) -> list[list[ReadyTweet]]:
        """Newest-first pages (of `query`) of the high-follower authors whose tweets the user's
        home page merges: those the user follows, and the user if they are one. With `fresh`,
        everything is read from the store."""
        authors = await self._authors_now(fresh)
        if not authors:
            return []
        followed = await self._followed_by(user_id, authors, fresh)
        pages, due = [], []
        for author in _merged_authors(user_id, authors, followed):
            page = None if fresh else self._held_page(author, query)
            if page is None:
                due.append(author)
            else:
                pages.append(page)
        if due:
            pages += await asyncio.gather(*(self._read(author, query, fresh) for author in due))
        return pages

    async def _authors_now(self, fresh: bool) -> frozenset[int]:
        if not fresh:
            held = self._authors.peek(None)
            if held is not None:
                return held
        async with self._authors_lock:
            held = None if fresh else self._authors.peek(None)
            if held is not None:
                return held  # another page read them meanwhile
            return await self._read_authors()

    async def _read_authors(self) -> frozenset[int]:
        """Read the set of authors (holding the lock); the same set keeps its identity, so
        what readers follow among it stays held."""
        issued_at = self._authors.now()
        found = frozenset(await self.backend.timelines.celebrities())
        if found == self._last_authors:
            found = self._last_authors
        self._last_authors = found
        self._authors.put(None, found, issued_at)
        return found

    async def _followed_by(self, user_id: int, authors: frozenset[int], fresh: bool) -> list[int]:
        if not fresh:
            hit = self._followed.peek(user_id)
            if hit is not None and hit[0] is authors:
                return hit[1]
        if fresh:
            return await self._read_followed(user_id, authors)
        load = functools.partial(self._read_followed, user_id, authors)
        return await self._following.load((user_id, authors), load)

    async def _read_followed(self, user_id: int, authors: frozenset[int]) -> list[int]:
        issued_at = self._followed.now()
        followed = await self.backend.graph.followed_among(user_id, sorted(authors))
        self._followed.put(user_id, (authors, followed), issued_at)
        return followed

    def _held_page(self, author: int, query: PageQuery) -> list[ReadyTweet] | None:
        recent = self.recent.get(author)
        if recent is None:
            return None
        now = self.clock()
        if now - recent.issued_at >= self.ttl_s:
            return None
        recent.used_at = now
        return answer(recent, query)

    async def _read(self, author: int, query: PageQuery, fresh: bool) -> list[ReadyTweet]:
        """The author's page, read; a page from the top is read RECENT_DEPTH deep and held,
        in one read shared by the pages that want it meanwhile (unless `fresh`)."""
        if self.ttl_s > 0 and query.max_id is None and query.count <= RECENT_DEPTH:
            load = functools.partial(self._load, author)
            recent = await (load() if fresh else self._loading.load(author, load))
            page = answer(recent, query)
            if page is not None:
                return page
        found = await self.backend.timelines.user_page(author, query, op=HIGH_FOLLOWER_PAGE)
        return self.tweets.ready_all(found)

    async def _load(self, author: int) -> Recent:
        issued_at = self.clock()
        found = await self.backend.timelines.user_page(
            author, PageQuery(RECENT_DEPTH), op=HIGH_FOLLOWER_PAGE
        )
        recent = Recent(
            issued_at, self.tweets.ready_all(found), len(found) < RECENT_DEPTH, issued_at
        )
        held = self.recent.get(author)
        if held is None and len(self.recent) < MAX_AUTHORS:
            self.recent[author] = recent
        elif held is not None and held.issued_at <= issued_at:
            recent.used_at = max(recent.used_at, held.used_at)
            self.recent[author] = recent
        return recent

    async def _run(self) -> None:
        """Read the set of authors and the held authors' tweets again every C / 2 while pages
        use them."""
        if self.ttl_s <= 0:
            return  # nothing is held
        while True:
            await asyncio.sleep(max(self.ttl_s / 2, MIN_REFRESH_S))
            if not self.recent:
                continue
            try:
                async with self._authors_lock:
                    await self._read_authors()
            except Exception as e:  # the set goes stale: pages read it meanwhile
                log.warning("refreshing the high-follower authors failed: %s", e)
            now = self.clock()
            for author in [a for a, r in self.recent.items() if now - r.used_at > IDLE_S]:
                del self.recent[author]
            authors = list(self.recent)
            for first in range(0, len(authors), REFRESH_CONCURRENCY):
                chunk = authors[first : first + REFRESH_CONCURRENCY]
                found = await asyncio.gather(*map(self._load, chunk), return_exceptions=True)
                failed = [e for e in found if isinstance(e, Exception)]
                if failed:  # the held tweets go stale: pages read the authors meanwhile
                    log.warning(
                        "refreshing %d high-follower authors failed: %s", len(failed), failed[0]
                    )


def _merged_authors(user_id: int, authors: frozenset[int], followed: list[int]) -> list[int]:
    return [*followed, user_id] if user_id in authors else followed
