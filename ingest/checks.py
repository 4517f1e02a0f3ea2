"""Ingest's checks before a follow-up write, answered so that lag never refuses one.

A reply or a delete names a tweet, a direct message needs its recipient to follow the
sender, a list member needs its list: all answered from the checks projection (its own
consumer group, fanout/checks.py). A positive answer is final. A negative one is given only
once the group has applied every partition of the topic up to the end offsets taken after
the request arrived, so a write acknowledged before it is seen, whichever ingest process
took it; past TIMELINE_FOLLOWUP_WAIT_MS the answer is 503 `projection_lagging`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.ports import Backend, CheckedTweet
from engine.progress import LogProgress

T = TypeVar("T")


class FollowUpChecks:
    """Tweets, follow edges and list owners as the log held them when a request arrived."""

    def __init__(self, backend: Backend, progress: LogProgress, group: str, wait_ms: int) -> None:
        self.backend = backend
        self.progress = progress
        self.group = group
        self.wait_s = wait_ms / 1000

    async def tweet(self, tweet_id: int) -> CheckedTweet | None:
        """The tweet with this id, perhaps deleted since, or None."""
        return await self._confirmed(TWEETS_TOPIC, lambda: self.backend.checks.tweet(tweet_id))

    async def follows(self, follower_id: int, followee_id: int) -> bool:
        """Whether follower_id follows followee_id."""
        found = await self._confirmed(GRAPH_TOPIC, lambda: self._edge(follower_id, followee_id))
        return found is not None

    async def list_owner(self, list_id: int) -> int | None:
        """The owner of a created list, or None."""
        return await self._confirmed(GRAPH_TOPIC, lambda: self.backend.checks.list_owner(list_id))

    async def _edge(self, follower_id: int, followee_id: int) -> bool | None:
        return True if await self.backend.checks.follows(follower_id, followee_id) else None

    async def _confirmed(self, topic: str, read: Callable[[], Awaitable[T | None]]) -> T | None:
        found = await read()
        if found is not None:
            return found
        ends = await self.progress.ends(topic)
        await self.progress.wait_applied({self.group: ends}, self.wait_s)
        return await read()
