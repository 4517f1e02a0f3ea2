"""The fan-out projection: users, the follow graph, the tweet store, user and home timelines."""

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
from engine.groups import PROJECTION_TOPICS
from engine.metrics import Metrics
from engine.ports import Backend, ProjectionStore
from fanout.graph import GraphProjector
from fanout.projection import Decoded, Projector, items_of, of_type
from fanout.timelines import TimelineProjector


class HomeProjector(Projector):
    """Users, then the graph, then tweets: the order that lets follows and tweets converge."""

    name = "timelines"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self._stores = (backend.users, backend.graph, backend.timelines)
        self.graph = GraphProjector(settings, backend)
        self.timelines = TimelineProjector(settings, backend, metrics)

    def stores(self) -> tuple[ProjectionStore, ...]:
        return self._stores

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await self.graph.apply_users(of_type(batch, UserRegistered))
        await self.timelines.apply_registrations(of_type(batch, UserRegistered))
        await self.graph.apply_follows(items_of(batch, Followed, Unfollowed))
        await self.timelines.apply_posts(of_type(batch, TweetPosted))
        await self.timelines.apply_deletes(of_type(batch, TweetDeleted))

    def forget(self) -> None:
        self.graph.forget()
