"""Ingest's checks before a follow-up write, answered so that lag never refuses one.

A reply or a delete names a tweet, a direct message needs its recipient to follow the
sender, a list member needs its list: all answered from the checks projection (its own
consumer group, fanout/checks.py). A positive answer is final. A negative one is given only
once the group has applied every partition of the topic up to the end offsets taken after
the request arrived, so a write acknowledged before it is seen, whichever ingest process
took it; past TIMELINE_FOLLOWUP_WAIT_MS the answer is 503 `projection_lagging`.

The checks keep a posted tweet's id alone; a delete, which carries the whole tweet, takes it
from the tweet store, waiting likewise for the group that keeps it (the fan-out) when the
store does not have it yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.config import Settings
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.groups import CHECKS_PROJECTION, TIMELINES, group_name
from engine.ports import Backend, CheckedTweet
from engine.progress import LogProgress
from engine.records import Tweet

T = TypeVar("T")


class FollowUpChecks:
    """Tweets, follow edges and list owners as the log held them when a request arrived."""

    def __init__(self, backend: Backend, progress: LogProgress, settings: Settings) -> None:
        self.backend = backend
        self.progress = progress
        self.group = group_name(settings, CHECKS_PROJECTION)
        self.tweet_store_group = group_name(settings, TIMELINES)  # the fan-out's
        self.wait_s = settings.followup_wait_ms / 1000

    async def tweet(self, tweet_id: int) -> CheckedTweet | None:
        """The tweet with this id, perhaps deleted since, or None."""
        return await self._confirmed(TWEETS_TOPIC, lambda: self.backend.checks.tweet(tweet_id))

    async def whole_tweet(self, found: CheckedTweet) -> Tweet | None:
        """The whole tweet the checks found: as they hold it, else from the tweet store (None
        if that has it deleted by then)."""
        if found.tweet is not None:
            return found.tweet
        return await self._confirmed(
            TWEETS_TOPIC,
            lambda: self.backend.timelines.get_tweet(found.tweet_id),
            self.tweet_store_group,
        )

    async def follows(self, follower_id: int, followee_id: int) -> bool:
        """Whether follower_id follows followee_id."""
        found = await self._confirmed(GRAPH_TOPIC, lambda: self._edge(follower_id, followee_id))
        return found is not None

    async def list_owner(self, list_id: int) -> int | None:
        """The owner of a created list, or None."""
        return await self._confirmed(GRAPH_TOPIC, lambda: self.backend.checks.list_owner(list_id))

    async def _edge(self, follower_id: int, followee_id: int) -> bool | None:
        return True if await self.backend.checks.follows(follower_id, followee_id) else None

    async def _confirmed(
        self, topic: str, read: Callable[[], Awaitable[T | None]], group: str | None = None
    ) -> T | None:
        """read()'s answer; if None, read again once `group` (the checks' own by default)
        has applied the topic up to its end offsets now."""
        found = await read()
        if found is not None:
            return found
        ends = await self.progress.ends(topic)
        await self.progress.wait_applied({group or self.group: ends}, self.wait_s)
        return await read()
