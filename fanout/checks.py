"""The checks projection: what ingest checks before a follow-up write, and nothing else.

Its own consumer group keeps it, so a busy fan-out never delays it: each posted tweet's id
(what a reply checks; a delete takes the whole tweet from the tweet store), each deleted
tweet whole, the follow edges, and each list's owner. Ids alone, because the store's cost
grows with the bytes it takes: a whole tweet a post cost Cassandra about 30 CPU-us.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.events import (
    Event,
    Followed,
    ListCreated,
    PostedTweetId,
    TweetDeleted,
    TweetPosted,
    Unfollowed,
    decode_posted_ids,
)
from engine.groups import PROJECTION_TOPICS
from engine.ports import Backend, ProjectionStore
from fanout.projector import Decoded, Projector, of_type


class ChecksProjector(Projector):
    """Writes tweets, deletions, follow edges and list owners, each an idempotent upsert."""

    name = "checks"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, backend: Backend) -> None:
        self.checks = backend.checks

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.checks,)

    def decode(self, blob: bytes) -> list[Event]:
        """Posts as their ids alone (PostedTweetId): the tweet is all a post holds besides,
        and decoding it was most of this group's cost."""
        return decode_posted_ids(blob)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        posted = [e.tweet_id for _, e in batch if type(e) is PostedTweetId]
        rest = batch if len(posted) < len(batch) else ()  # most batches: posts only
        posted += [e.tweet.id for e in of_type(rest, TweetPosted)]  # records read whole
        await asyncio.gather(
            self.checks.put_tweets(posted),
            self.checks.put_list_owners(
                [(e.list_id, e.owner_id) for e in of_type(rest, ListCreated)]
            ),
            self._edges(of_type(rest, Followed, Unfollowed)),
        )
        await self.checks.delete_tweets([e.tweet for e in of_type(rest, TweetDeleted)])

    async def _edges(self, events: Sequence[Followed]) -> None:
        """The newest follow or unfollow of each pair in the batch (by event time, so a late
        duplicate of an older follow does not undo a newer unfollow), at its event time."""
        last: dict[tuple[int, int], Followed] = {}
        for e in events:
            pair = (e.follower_id, e.followee_id)
            if pair not in last or e.ts_us >= last[pair].ts_us:
                last[pair] = e
        for present in (True, False):
            chosen = [e for e in last.values() if (type(e) is Followed) is present]
            await self.checks.set_edges(
                [(e.follower_id, e.followee_id) for e in chosen],
                present,
                [e.ts_us for e in chosen],
            )
