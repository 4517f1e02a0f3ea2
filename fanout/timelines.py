"""The `timelines` projection: users, the follow graph, the tweet store, user and home timelines.

Its consumer group is `<prefix>fanout` (engine/groups.py): the name it was deployed under.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import Settings
from engine.events import (
    Followed,
    TweetDeleted,
    TweetPosted,
    Unfollowed,
    UserRegistered,
)
from engine.groups import PROJECTION_TOPICS, TIMELINES
from engine.metrics import Metrics
from engine.ports import Backend, ProjectionStore
from fanout.audience import FollowerIndex
from fanout.graph import GraphApplier
from fanout.posts import PostFanout
from fanout.projector import Decoded, Projector, items_of, of_type


class TimelinesProjector(Projector):
    """Users, then the graph, then tweets: the order that lets follows and tweets converge."""

    name = TIMELINES
    topics = PROJECTION_TOPICS[name]

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self._stores = (backend.users, backend.graph, backend.timelines)
        self.graph = GraphApplier(settings, backend)
        self.followers = FollowerIndex(backend)
        self.posts = PostFanout(settings, backend, metrics, self.followers)

    def stores(self) -> tuple[ProjectionStore, ...]:
        return self._stores

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await self.graph.apply_users(of_type(batch, UserRegistered))
        await self.posts.apply_registrations(of_type(batch, UserRegistered))
        await self.graph.apply_follows(items_of(batch, Followed, Unfollowed))
        await self.posts.apply_posts(of_type(batch, TweetPosted))
        await self.posts.apply_deletes(of_type(batch, TweetDeleted))

    def forget(self) -> None:
        self.graph.forget()

    async def open(self, group: str) -> None:
        await self.followers.open(group)

    async def close(self) -> None:
        await self.followers.stop()
