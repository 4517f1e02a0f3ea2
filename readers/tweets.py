"""Tweets ready to send: each tweet's answer JSON encoded once per process, pages joined from it.

Tweets never change once posted, so a tweet's encoding (engine/http.tweet_bytes) is kept by
id in a bounded cache of the most recently served ones, and a page is the join of its tweets'
encodings. A home page's rows are made whole (`hydrate`) from that cache, else from the row's
own copy of the tweet where it has one, else from the tweet store: one request for all the
page's other ids, which drops those whose tweet is gone (deleted, its rows not removed yet).
A cached encoding is served only for an id that a read of the store returned just now (a
page's rows, an author's recent tweets), so a deleted tweet leaves pages when the timelines
projection removes its rows, as it did when every row carried its tweet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from aiohttp import web

from engine.cache import LruCache
from engine.events import unpack_tweet
from engine.http import respond_tweets, tweet_bytes
from engine.ports import HomeRow, TimelineStore
from engine.records import Tweet

TWEET_CACHE_ENTRIES = 100_000  # about 400 bytes each: some 50 MB at most


@dataclass(frozen=True, slots=True)
class ReadyTweet:
    """A tweet's id and its answer JSON."""

    id: int
    json: bytes


class TweetJson:
    """The answer JSON of the tweets this process served last, by tweet id."""

    def __init__(self, size: int = TWEET_CACHE_ENTRIES) -> None:
        self._ready: LruCache[int, ReadyTweet] = LruCache(size)

    def __len__(self) -> int:
        return len(self._ready)

    def ready(self, tweet: Tweet) -> ReadyTweet:
        """The tweet with its answer JSON, encoded only if not held already."""
        found = self._ready.get(tweet.id)
        if found is None:
            found = ReadyTweet(tweet.id, tweet_bytes(tweet))
            self._ready.put(tweet.id, found)
        return found

    def ready_all(self, tweets: Iterable[Tweet]) -> list[ReadyTweet]:
        """ready() of each tweet, in order."""
        return [self.ready(t) for t in tweets]

    async def hydrate(self, rows: Sequence[HomeRow], store: TimelineStore) -> list[ReadyTweet]:
        """The rows' tweets ready to send, in order; those the tweet store no longer holds
        are left out. At most one store request: none when every row is held or carries its
        tweet."""
        held = [self._held(row) for row in rows]
        missing = [row.tweet_id for row, ready in zip(rows, held, strict=True) if ready is None]
        if not missing:
            return cast(list[ReadyTweet], held)
        found = await store.get_tweets(missing)
        return [
            ready if ready is not None else self.ready(found[row.tweet_id])
            for row, ready in zip(rows, held, strict=True)
            if ready is not None or row.tweet_id in found
        ]

    def _held(self, row: HomeRow) -> ReadyTweet | None:
        ready = self._ready.get(row.tweet_id)
        if ready is None and row.body is not None:
            ready = self.ready(unpack_tweet(row.body))
        return ready


def tweets_answer(request: web.Request, tweets: Sequence[ReadyTweet], count: int) -> web.Response:
    """A page from a probe's result (count + 1 tweets read): next_max_id when there is more."""
    last = tweets[count - 1].id if len(tweets) > count else None
    return respond_tweets(request, [t.json for t in tweets], count, last)
