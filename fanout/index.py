"""The hashtag and mention indexes: one row per tweet in each tag's and mentioned user's view."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from engine.events import TweetDeleted, TweetPosted
from engine.groups import PROJECTION_TOPICS
from engine.ports import Backend, ProjectionStore
from engine.records import Tweet
from engine.text import normalize_tag
from fanout.projector import Decoded, Projector, of_type

Rows = dict[object, list[tuple[Tweet, int]]]


class IndexProjector(Projector):
    """Writes hashtag timelines (by normalised tag and day) and mention timelines."""

    name = "index"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, backend: Backend) -> None:
        self.index = backend.index

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.index,)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        tags: defaultdict[str, list[tuple[Tweet, int]]] = defaultdict(list)
        mentions: defaultdict[int, list[tuple[Tweet, int]]] = defaultdict(list)
        for e in of_type(batch, TweetPosted):
            for tag in {normalize_tag(t) for t in e.tweet.hashtags}:
                tags[tag].append((e.tweet, e.ts_us))
            for uid in {m.user_id for m in e.tweet.mentions}:
                mentions[uid].append((e.tweet, e.ts_us))
        await asyncio.gather(
            *(self.index.add_tag_rows(tag, rows) for tag, rows in tags.items()),
            *(self.index.add_mention_rows(uid, rows) for uid, rows in mentions.items()),
        )
        await asyncio.gather(*(self._undo(e) for e in of_type(batch, TweetDeleted)))

    async def _undo(self, event: TweetDeleted) -> None:
        tweet = event.tweet
        await asyncio.gather(
            *(
                self.index.remove_tag_row(normalize_tag(t), tweet, event.ts_us)
                for t in set(tweet.hashtags)
            ),
            *(
                self.index.remove_mention_row(m.user_id, tweet.id, event.ts_us)
                for m in set(tweet.mentions)
            ),
        )
