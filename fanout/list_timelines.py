"""List timelines, kept like home timelines: each tweet copied into every list of its author.

A row's write time is when its author joined the list, not when the tweet was posted: a
removal at a later time then removes every row the membership wrote, whichever order the
tweets and graph topics are read in. The group keeps each author's newest tweets itself
(`list_author_tweets`), so a new member's backfill never waits on another group's tables;
a post writes them before it reads the author's lists, and a join writes the membership
before it reads them, so whichever of a tweet and a join is applied second sees the other.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from engine.config import Settings
from engine.events import TweetDeleted, TweetPosted
from engine.ports import ListStore
from engine.records import Tweet
from fanout.trims import TrimSchedule

ListRows = dict[int, list[tuple[Tweet, int]]]


class ListTimelines:
    """Writes, removes and trims list timeline rows and the authors' recent tweets."""

    def __init__(self, settings: Settings, lists: ListStore) -> None:
        self.lists = lists
        self.cap = settings.home_timeline_cap
        self.list_trims = TrimSchedule(settings.home_trim_every)
        self.recent_trims = TrimSchedule(settings.home_trim_every)
        self.backfill_count = settings.follow_backfill_count

    async def apply_posts(self, events: Sequence[TweetPosted]) -> None:
        if not events:
            return
        await self.lists.put_recent([e.tweet for e in events], [e.ts_us for e in events])
        memberships = await self._memberships(e.tweet.author_id for e in events)
        rows: ListRows = defaultdict(list)
        for e in events:
            for list_id, joined_us in memberships[e.tweet.author_id].items():
                rows[list_id].append((e.tweet, joined_us))
        await asyncio.gather(*(self.lists.add_list_rows(lst, r) for lst, r in rows.items()))
        posted = Counter(e.tweet.author_id for e in events)
        await asyncio.gather(
            *(
                self.lists.trim_list(lst, self.cap)
                for lst in self.list_trims.due((lst, len(r)) for lst, r in rows.items())
            ),
            *(
                self.lists.trim_recent(author, self.backfill_count)
                for author in self.recent_trims.due(posted.items())
            ),
        )

    async def apply_deletes(self, events: Sequence[TweetDeleted]) -> None:
        """Remove deleted tweets from the recent tweets and from every list of their author,
        at least at the join time the rows were written with, so no backfill outlives it."""
        if not events:
            return
        await self.lists.delete_recent([e.tweet for e in events], [e.ts_us for e in events])
        memberships = await self._memberships(e.tweet.author_id for e in events)
        await asyncio.gather(
            *(
                self.lists.remove_list_rows(lst, [e.tweet.id], max(e.ts_us, joined_us))
                for e in events
                for lst, joined_us in memberships[e.tweet.author_id].items()
            )
        )

    async def backfill(self, list_id: int, member_id: int, joined_us: int) -> None:
        """Copy a new member's newest tweets into the list, at the time they joined."""
        tweets = await self.lists.recent(member_id, self.backfill_count)
        if tweets:
            await self.lists.add_list_rows(list_id, [(t, joined_us) for t in tweets])
            await self.lists.trim_list(list_id, self.cap)

    async def clean(self, list_id: int, member_id: int, left_us: int) -> None:
        """Remove a former member's tweets from the list, at the time they left."""
        rows = await self.lists.list_authors(list_id)
        gone = [tweet_id for tweet_id, author in rows if author == member_id]
        await self.lists.remove_list_rows(list_id, gone, left_us)

    async def _memberships(self, authors: Iterable[int]) -> dict[int, dict[int, int]]:
        unique = list(dict.fromkeys(authors))
        found = await asyncio.gather(*map(self.lists.lists_of, unique))
        return dict(zip(unique, found, strict=True))
