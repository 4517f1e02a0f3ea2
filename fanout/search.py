"""The search projection: tweets indexed under their terms (engine/terms.py)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.events import TweetDeleted, TweetPosted
from engine.groups import PROJECTION_TOPICS
from engine.ports import Backend, ProjectionStore, SearchEntry
from engine.terms import tweet_terms
from fanout.projector import Decoded, Projector, of_type


class SearchProjector(Projector):
    """Indexes posted tweets under their terms and removes deleted ones.

    Direct messages are on another topic and never reach this projection.
    """

    name = "search"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, backend: Backend) -> None:
        self.index = backend.search

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.index,)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        posted = of_type(batch, TweetPosted)
        if posted:
            await self.index.add(
                [SearchEntry(e.tweet, tweet_terms(e.tweet), e.ts_us) for e in posted]
            )
        deleted = of_type(batch, TweetDeleted)
        if deleted:
            await self.index.remove([(e.tweet, e.ts_us) for e in deleted])
