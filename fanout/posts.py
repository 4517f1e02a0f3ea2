"""The tweet part of the `timelines` projection (fanout/timelines.py): tweets into the tweet
store, the author's timeline, and every follower's home timeline."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Sequence

from engine.config import Settings
from engine.events import TweetDeleted, TweetPosted, UserRegistered
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import Tweet
from fanout.activity import ActivityView

MAX_DELETE_AUDIENCE = 1_000_000
HomeRows = dict[int, list[tuple[Tweet, int]]]


class PostFanout:
    """Fans tweets out to followers' home timelines, grouped per follower partition.

    The author's own timeline is written before followers are read, and a follow writes its
    edge before it backfills: whichever of a tweet and a follow is applied second sees the
    other, so the home timeline converges whatever order their partitions are read in.

    Followers who have not read their home timeline for `inactive_after_s` are skipped (the
    author's own home timeline is always written); engine/home_rebuild.py rebuilds a returning
    user's home timeline from the user timelines, which are written before any follower is.
    """

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self._celebrities: set[int] = set()
        self._celebrities_loaded = False
        self.activity = ActivityView(settings, backend.activity)

    async def apply_posts(self, events: Sequence[TweetPosted]) -> None:
        if not events:
            return
        timelines = self.backend.timelines
        await timelines.put_tweets([e.tweet for e in events], [e.ts_us for e in events])
        self.metrics.rows_written.labels("user_timeline").inc(len(events))
        rows = await self._home_rows(events)
        await asyncio.gather(*(timelines.add_home_rows(o, r) for o, r in rows.items()))
        self.metrics.rows_written.labels("home_timeline").inc(sum(map(len, rows.values())))
        now_us = time.time_ns() // 1000
        for e in events:
            self.metrics.delivery_seconds.observe(max(0, now_us - e.ts_us) / 1e6)
        await self._trim(rows)

    async def apply_registrations(self, events: Sequence[UserRegistered]) -> None:
        """A new user counts as active from their registration, so they receive tweets."""
        await asyncio.gather(*(self.activity.registered(e.user_id, e.ts_us) for e in events))

    async def apply_deletes(self, events: Sequence[TweetDeleted]) -> None:
        """Remove deleted tweets from the store, the author's timeline and every home timeline."""
        if not events:
            return
        await self.backend.timelines.delete_tweets(
            [e.tweet for e in events], [e.ts_us for e in events]
        )
        removals: dict[int, list[tuple[int, int]]] = defaultdict(list)
        authors = list(dict.fromkeys(e.tweet.author_id for e in events))
        audiences = await asyncio.gather(*map(self._everyone, authors))
        audience_of = dict(zip(authors, audiences, strict=True))
        for e in events:
            for owner in audience_of[e.tweet.author_id]:
                removals[owner].append((e.tweet.id, e.ts_us))
        await asyncio.gather(*(self._remove(owner, rows) for owner, rows in removals.items()))

    async def _everyone(self, author_id: int) -> list[int]:
        """Every home timeline that may hold an author's tweet, celebrities' included."""
        followers = await self.backend.graph.follower_ids(author_id, MAX_DELETE_AUDIENCE)
        return [author_id, *followers]

    async def _remove(self, owner: int, rows: list[tuple[int, int]]) -> None:
        for tweet_id, ts in rows:
            await self.backend.timelines.remove_home_rows(owner, [tweet_id], ts)

    async def _home_rows(self, events: Sequence[TweetPosted]) -> HomeRows:
        authors = list(dict.fromkeys(e.tweet.author_id for e in events))
        audiences = dict(
            zip(authors, await asyncio.gather(*map(self._audience, authors)), strict=True)
        )
        followers = {owner for audience in audiences.values() for owner in audience[1:]}
        inactive = await self.activity.inactive_among(followers)
        rows: HomeRows = defaultdict(list)
        skipped = 0
        for e in events:
            for owner in audiences[e.tweet.author_id]:
                if owner in inactive and owner != e.tweet.author_id:
                    skipped += 1
                else:
                    rows[owner].append((e.tweet, e.ts_us))
        self.metrics.home_rows_skipped.inc(skipped)
        return rows

    async def _audience(self, author_id: int) -> list[int]:
        """The home timelines a tweet goes to: the author's and every follower's, or none."""
        if await self._is_celebrity(author_id):
            return []  # merged by readers from the author's own timeline
        threshold = self.settings.celebrity_threshold
        followers = await self.backend.graph.follower_ids(author_id, threshold + 1)
        if len(followers) > threshold:
            await self._mark_celebrity(author_id)
            return []
        return [author_id, *followers]

    async def _is_celebrity(self, author_id: int) -> bool:
        if not self._celebrities_loaded:
            self._celebrities = await self.backend.timelines.celebrities()
            self._celebrities_loaded = True
        return author_id in self._celebrities

    async def _mark_celebrity(self, author_id: int) -> None:
        await self.backend.timelines.mark_celebrity(author_id)
        self._celebrities.add(author_id)

    async def _trim(self, rows: HomeRows) -> None:
        every = self.settings.home_trim_every
        cap = self.settings.home_timeline_cap
        due = [owner for owner in rows if every <= 1 or random.randrange(every) == 0]
        await asyncio.gather(*(self.backend.timelines.trim_home(owner, cap) for owner in due))
