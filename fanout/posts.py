"""The tweet part of the `timelines` projection (fanout/timelines.py): tweets into the tweet
store, the author's timeline, and every follower's home timeline."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from engine.cache import TtlCache
from engine.config import Settings
from engine.events import TweetDeleted, TweetPosted, UserRegistered
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import Tweet
from fanout.activity import ActivityView
from fanout.audience import FollowerIndex
from fanout.trims import TrimSchedule

HomeRows = list[tuple[int, Tweet, int]]


class PostFanout:
    """Fans tweets out to followers' home timelines from the follower index in memory.

    The author's own timeline is written before the audience is taken, and the audience is
    taken from a follower index that has read every follow appended before that write
    (fanout/audience.py has the argument): whichever of a tweet and a follow is applied
    second sees the other, so the home timeline converges whatever order their partitions
    are read in. Home rows of a whole batch go to the store together; the adapter groups
    them into as few requests as its limits allow.

    Followers who have not read their home timeline for `inactive_after_s` are skipped (the
    author's own home timeline is always written); engine/home_rebuild.py rebuilds a returning
    user's home timeline from the user timelines, which are written before any follower is.

    An author with more than `celebrity_threshold` followers is marked high-follower for good
    and fanned out to no home timeline (readers merge their tweets). The set of marked authors
    is held as readers hold it, for `celebrity_cache_s` after the read that found it was issued,
    and this process's own marks join it at once. An author missing from the held set is
    found over the threshold again in the follower index: no tweet of a high-follower author
    is fanned out, however stale the set.
    """

    def __init__(
        self, settings: Settings, backend: Backend, metrics: Metrics, index: FollowerIndex
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.index = index
        self._celebrities: TtlCache[None, set[int]] = TtlCache(settings.celebrity_cache_s, size=1)
        self.activity = ActivityView(settings, backend.activity)
        self.trims = TrimSchedule(settings.home_trim_every)

    async def apply_posts(self, events: Sequence[TweetPosted]) -> None:
        if not events:
            return
        timelines = self.backend.timelines
        await timelines.put_tweets([e.tweet for e in events], [e.ts_us for e in events])
        self.metrics.rows_written.labels("user_timeline").inc(len(events))
        await self.index.caught_up()
        rows = await self._home_rows(events)
        await timelines.put_home_rows(rows)
        self.metrics.rows_written.labels("home_timeline").inc(len(rows))
        now_us = time.time_ns() // 1000
        for e in events:
            self.metrics.delivery_seconds.observe(max(0, now_us - e.ts_us) / 1e6)
        await self._trim(rows)

    async def apply_registrations(self, events: Sequence[UserRegistered]) -> None:
        """A new user counts as active from their registration, so they receive tweets."""
        await asyncio.gather(*(self.activity.registered(e.user_id, e.ts_us) for e in events))

    async def apply_deletes(self, events: Sequence[TweetDeleted]) -> None:
        """Remove deleted tweets from the store, the author's timeline and every home timeline
        that may hold them (high-follower authors' followers included)."""
        if not events:
            return
        await self.backend.timelines.delete_tweets(
            [e.tweet for e in events], [e.ts_us for e in events]
        )
        await self.index.caught_up()
        removals = [
            (owner, e.tweet.id, e.ts_us)
            for e in events
            for owner in (e.tweet.author_id, *self.index.followers(e.tweet.author_id))
        ]
        await self.backend.timelines.remove_home_rows_many(removals)

    async def _home_rows(self, events: Sequence[TweetPosted]) -> HomeRows:
        authors = list(dict.fromkeys(e.tweet.author_id for e in events))
        celebrities = await self._celebrities.get(None, self._load_celebrities)
        audiences = {author: await self._audience(author, celebrities) for author in authors}
        followers = {owner for audience in audiences.values() for owner in audience[1:]}
        inactive = await self.activity.inactive_among(followers)
        rows: HomeRows = []
        skipped = 0
        for e in events:
            tweet, ts = e.tweet, e.ts_us
            for owner in audiences[tweet.author_id]:
                if owner in inactive and owner != tweet.author_id:
                    skipped += 1
                else:
                    rows.append((owner, tweet, ts))
        self.metrics.home_rows_skipped.inc(skipped)
        return rows

    async def _audience(self, author_id: int, celebrities: set[int]) -> list[int]:
        """The home timelines a tweet goes to: the author's and every follower's, or none."""
        if author_id in celebrities:
            return []  # merged by readers from the author's own timeline
        if self.index.follower_count(author_id) > self.settings.celebrity_threshold:
            await self.backend.timelines.mark_celebrity(author_id)
            celebrities.add(author_id)  # the held set: known at once to later batches
            return []
        return [author_id, *self.index.followers(author_id)]

    async def _load_celebrities(self, _: None) -> set[int]:
        return await self.backend.timelines.celebrities()

    async def _trim(self, rows: HomeRows) -> None:
        written = Counter(owner for owner, _, _ in rows)
        cap = self.settings.home_timeline_cap
        due = self.trims.due(written.items())
        await asyncio.gather(*(self.backend.timelines.trim_home(owner, cap) for owner in due))
