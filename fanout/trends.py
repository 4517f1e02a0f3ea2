"""The trends projection: hashtag counts per minute, exactly once per tweet, minus deletes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from engine.cache import BoundedRows
from engine.events import TWEETS_TOPIC, TweetDeleted, TweetPosted
from engine.ids import id_ms
from engine.ports import Backend, LogRecord, TrendRow
from engine.text import normalize_tag
from fanout.projection import Decoded, Projector, items_of

MINUTE_MS = 60_000


def minute_of(tweet_id: int) -> int:
    """The minute (since the Unix epoch) a tweet was posted in."""
    return id_ms(tweet_id) // MINUTE_MS


class TrendProjector(Projector):
    """Counts per (minute, tweets partition) with the offset last applied to each row.

    Tweets are keyed by author, so one partition's consumer is the only writer of its
    rows; an event at or below a row's offset was counted before a crash and is skipped.
    Direct messages are on another topic and never reach this projection.
    """

    name = "trends"
    topics = (TWEETS_TOPIC,)
    tables = ("trend_minutes",)

    def __init__(self, backend: Backend, cache_rows: int) -> None:
        self.trends = backend.trends
        self._rows: BoundedRows[tuple[int, int], TrendRow] = BoundedRows(cache_rows)

    @property
    def held(self) -> BoundedRows[tuple[int, int], TrendRow]:
        """The rows kept in memory between batches."""
        return self._rows

    def forget(self) -> None:
        self._rows.clear()

    async def apply(self, batch: Sequence[Decoded]) -> None:
        items = items_of(batch, TweetPosted, TweetDeleted)
        keys = {(minute_of(e.tweet.id), r.partition) for r, e in items if e.tweet.hashtags}
        self._rows.update(await self.trends.rows(self._rows.missing(keys)))
        dirty = {key for r, e in items if (key := self._count(r, e)) is not None}
        await self.trends.put_rows([self._rows[k] for k in dirty])
        self._rows.trim()

    def _count(self, record: LogRecord, event: TweetPosted) -> tuple[int, int] | None:
        if not event.tweet.hashtags:
            return None
        key = (minute_of(event.tweet.id), record.partition)
        row = self._rows[key]
        if record.offset <= row.applied_offset:
            return None  # counted before a crash; the log is replaying it
        delta = -1 if isinstance(event, TweetDeleted) else 1
        counts = dict(row.counts)
        for tag in {normalize_tag(t) for t in event.tweet.hashtags}:
            counts[tag] = counts.get(tag, 0) + delta
        self._rows[key] = dataclasses.replace(row, counts=counts, applied_offset=record.offset)
        return key
