"""The trends projection: hashtag counts per minute, exactly once per tweet, minus deletes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from engine.cache import BoundedRows
from engine.events import TweetDeleted, TweetPosted
from engine.groups import PROJECTION_TOPICS
from engine.ids import id_ms
from engine.ports import Backend, LogRecord, ProjectionStore, TrendRow, TrendTweet
from engine.text import normalize_tag
from fanout.projector import Decoded, Projector, items_of

MINUTE_MS = 60_000
Key = tuple[int, int]


def minute_of(tweet_id: int) -> int:
    """The minute (since the Unix epoch) a tweet was posted in."""
    return id_ms(tweet_id) // MINUTE_MS


class TrendProjector(Projector):
    """Counts per (minute, tweets partition) with the offset last applied to each row.

    Tweets are keyed by author, so one partition's consumer is the only writer of its
    rows; an event below a row's offset was counted before a crash and is skipped. One record
    may hold many posts (a pack, engine/events.py), so at the row's own offset a tweet is
    skipped only if the row remembers counting it there: the tweets of a pack may be applied
    in more than one batch, and a row written between them covers only the first ones.
    Direct messages are on another topic and never reach this projection.

    The log may also hold one event twice at two offsets (a retried post whose first append
    landed after the API answered 503, re-appended with the same ids). So each row also
    remembers the tweets it counted, with the offset that counted each: a record of a tweet
    the row already counted at another offset is skipped (a delete likewise, once applied).
    Every record of a tweet is in its author's partition and its minute, so the row that
    counts a tweet is the one place to remember it: the memory lives exactly as long as the
    counts (the rows' two-day TTL), needs no separate expiry, and is loaded with the row.
    The offset in each entry keeps a crash safe: entries are written before the row, and a
    replayed record finds an entry with its own offset, so it is still counted if the row's
    offset does not yet cover it.
    """

    name = "trends"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, backend: Backend, cache_rows: int) -> None:
        self.trends = backend.trends
        self._rows: BoundedRows[Key, TrendRow] = BoundedRows(cache_rows)

    @property
    def held(self) -> BoundedRows[Key, TrendRow]:
        """The rows kept in memory between batches."""
        return self._rows

    def forget(self) -> None:
        self._rows.clear()

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.trends,)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        items = items_of(batch, TweetPosted, TweetDeleted)
        keys = {(minute_of(e.tweet.id), r.partition) for r, e in items if e.tweet.hashtags}
        self._rows.update(await self.trends.rows(self._rows.missing(keys)))
        fresh: dict[Key, dict[int, TrendTweet]] = {}
        for record, event in items:
            self._count(record, event, fresh)
        await self.trends.put_rows(
            [dataclasses.replace(self._rows[k], tweets=tweets) for k, tweets in fresh.items()]
        )
        self._rows.trim()

    def _count(
        self, record: LogRecord, event: TweetPosted, fresh: dict[Key, dict[int, TrendTweet]]
    ) -> None:
        if not event.tweet.hashtags:
            return
        key = (minute_of(event.tweet.id), record.partition)
        row = self._rows[key]
        if record.offset < row.applied_offset:
            return  # counted before a crash; the log is replaying it
        mark = row.tweets.get(event.tweet.id)
        if (
            record.offset == row.applied_offset
            and mark is not None
            and mark.offset == record.offset
        ):
            return  # this tweet of the row's last record (a pack holds many) was counted
        delta = -1 if isinstance(event, TweetDeleted) else 1
        if _counted_elsewhere(mark, delta, record.offset):
            return
        counts = dict(row.counts)
        for tag in {normalize_tag(t) for t in event.tweet.hashtags}:
            counts[tag] = counts.get(tag, 0) + delta
        mark = TrendTweet(delta, record.offset)
        row.tweets[event.tweet.id] = mark  # the cached row's own memory, updated in place
        self._rows[key] = dataclasses.replace(row, counts=counts, applied_offset=record.offset)
        fresh.setdefault(key, {})[event.tweet.id] = mark


def _counted_elsewhere(mark: TrendTweet | None, delta: int, offset: int) -> bool:
    """Whether another record of this tweet already did what this one would: a post counted
    (or deleted since), or a delete applied."""
    if mark is None or mark.offset == offset:
        return False
    return delta == 1 or mark.delta == -1
