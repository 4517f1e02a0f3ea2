"""Who gets each written event: open streams, by hashtag and by home timeline owner.

A stream is a `Subscriber`: a bounded queue of encoded SSE chunks and a waiter, nothing
else, so thousands of idle streams cost little. Each event is encoded once for all its
streams. A home stream's owner is indexed under every author they follow and under
themselves, loaded from the follow graph when their first stream opens and kept current
from the follow events the fan-out group has written.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from engine.events import Event, Followed, TweetDeleted, TweetPosted, Unfollowed
from engine.http import encode_json, tweet_bytes
from engine.ports import Backend
from engine.records import Tweet
from engine.text import normalize_tag
from readers.tweets import ReadyTweet

FOLLOWING_PAGE = 5000
Item = tuple[int | None, bytes]  # (tweet id of a tweet event, else None; the SSE chunk)


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event; JSON never holds a raw newline, so data is one line."""
    head = f"event: {event}\n" if event_id is None else f"event: {event}\nid: {event_id}\n"
    return b"%sdata: %s\n\n" % (head.encode(), encode_json(data))


def ready_chunk(tweet: ReadyTweet) -> bytes:
    """A tweet as a stream event, its id the tweet id (what Last-Event-ID resumes from): what
    sse() makes of its tweet_json, from the JSON already encoded."""
    return b"event: tweet\nid: %d\ndata: %s\n\n" % (tweet.id, tweet.json)


def tweet_chunk(tweet: Tweet) -> bytes:
    """ready_chunk() of a tweet."""
    return ready_chunk(ReadyTweet(tweet.id, tweet_bytes(tweet)))


def delete_chunk(tweet: Tweet) -> bytes:
    """A delete as a stream event; it carries no id, so Last-Event-ID stays on the last tweet."""
    return sse("delete", {"id": str(tweet.id)})


class Subscriber:
    """One open stream: a bounded queue; overflowing it cuts the stream."""

    __slots__ = ("closing", "cut", "kind", "limit", "queue", "waiter")

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.queue: deque[Item] = deque()
        self.cut: str | None = None  # why the server ends the stream
        self.closing = False
        self.waiter: asyncio.Future[None] | None = None

    def offer(self, tweet_id: int | None, chunk: bytes) -> None:
        """Queue an event; a full queue marks the stream as a slow consumer instead."""
        if self.cut is not None:
            return
        if len(self.queue) >= self.limit:
            self.queue.clear()
            self.end("slow_consumer")
            return
        self.queue.append((tweet_id, chunk))
        self._wake()

    def end(self, reason: str) -> None:
        """Ask the stream to end, telling the client why."""
        if self.cut is None:
            self.cut = reason
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def beat(self) -> None:
        """Wake the stream with nothing queued: time for a heartbeat."""
        self._wake()

    async def next(self) -> list[Item]:
        """Every queued event, waiting for one, or [] when woken for a heartbeat.

        No timer per stream: one ticker per process calls beat() on every stream."""
        if not self.queue and self.cut is None:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        items = list(self.queue)
        self.queue.clear()
        return items


def _offer_all(subscribers: Iterable[Subscriber], tweet_id: int | None, chunk: bytes) -> int:
    n = 0
    for sub in subscribers:
        sub.offer(tweet_id, chunk)
        n += 1
    return n


class TagRouter:
    """Hashtag streams by normalised tag."""

    def __init__(self) -> None:
        self.streams: dict[str, set[Subscriber]] = {}

    def add(self, tag_key: str, sub: Subscriber) -> None:
        """Open a stream of a tag."""
        self.streams.setdefault(tag_key, set()).add(sub)

    def remove(self, tag_key: str, sub: Subscriber) -> None:
        """Close a stream of a tag."""
        subs = self.streams.get(tag_key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.streams[tag_key]

    def deliver(self, events: Sequence[Event]) -> None:
        """Queue each written tweet and delete to the streams of its tags."""
        for e in events:
            if not isinstance(e, TweetPosted) or not self.streams:
                continue
            tags = {normalize_tag(t) for t in e.tweet.hashtags}
            subs = [s for tag in tags for s in self.streams.get(tag, ())]
            if subs:
                deleted = type(e) is TweetDeleted
                chunk = delete_chunk(e.tweet) if deleted else tweet_chunk(e.tweet)
                _offer_all(subs, None if deleted else e.tweet.id, chunk)


class _Owner:
    """A home timeline owner with open streams: whom they follow, and their streams."""

    __slots__ = ("following", "loaded", "pending", "streams")

    def __init__(self) -> None:
        self.following: set[int] = set()
        self.streams: set[Subscriber] = set()
        self.pending: list[Followed] | None = []  # follow events seen while loading
        self.loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class HomeRouter:
    """Home streams, indexed by the authors whose tweets their timelines get."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.owners: dict[int, _Owner] = {}
        self.audience: dict[int, set[int]] = {}  # author -> owners with streams who get them

    async def add(self, owner_id: int, sub: Subscriber) -> None:
        """Open a home stream; the first of an owner loads whom they follow."""
        owner = self.owners.get(owner_id)
        if owner is None:
            owner = self.owners[owner_id] = _Owner()
            try:
                await self._load(owner_id, owner)
            except BaseException as e:
                del self.owners[owner_id]
                for author in owner.following:
                    self._unindex(author, owner_id)
                if isinstance(e, Exception):
                    owner.loaded.set_exception(e)
                    owner.loaded.exception()  # retrieved: the waiters raise it, no log
                else:
                    owner.loaded.cancel()
                raise
        else:
            await asyncio.shield(owner.loaded)
        owner.streams.add(sub)

    async def _load(self, owner_id: int, owner: _Owner) -> None:
        following: set[int] = set()
        max_id = None
        while True:
            page = await self.backend.graph.following_ids(owner_id, FOLLOWING_PAGE, max_id)
            following.update(page)
            if len(page) < FOLLOWING_PAGE:
                break
            max_id = page[-1] - 1
        owner.following = following | {owner_id}
        for author in owner.following:
            self.audience.setdefault(author, set()).add(owner_id)
        for event in owner.pending or ():
            self._follow(owner_id, owner, event)
        owner.pending = None
        owner.loaded.set_result(None)

    def remove(self, owner_id: int, sub: Subscriber) -> None:
        """Close a home stream; the owner's last one drops their index entries."""
        owner = self.owners.get(owner_id)
        if owner is None:
            return
        owner.streams.discard(sub)
        if owner.streams or owner.pending is not None:
            return
        del self.owners[owner_id]
        for author in owner.following:
            self._unindex(author, owner_id)

    def _unindex(self, author: int, owner_id: int) -> None:
        owners = self.audience.get(author)
        if owners is not None:
            owners.discard(owner_id)
            if not owners:
                del self.audience[author]

    def _follow(self, owner_id: int, owner: _Owner, event: Followed) -> None:
        author = event.followee_id
        if author == owner_id:
            return
        if type(event) is Unfollowed:
            owner.following.discard(author)
            self._unindex(author, owner_id)
        else:
            owner.following.add(author)
            self.audience.setdefault(author, set()).add(owner_id)

    def deliver(self, events: Sequence[Event]) -> None:
        """Apply written follows, then queue written tweets and deletes to their owners."""
        for e in events:
            if isinstance(e, Followed):
                owner = self.owners.get(e.follower_id)
                if owner is None:
                    continue
                if owner.pending is not None:
                    owner.pending.append(e)
                else:
                    self._follow(e.follower_id, owner, e)
            elif isinstance(e, TweetPosted):
                self._tweet(e)

    def _tweet(self, e: TweetPosted) -> None:
        owners = self.audience.get(e.tweet.author_id)
        if not owners:
            return
        deleted = type(e) is TweetDeleted
        chunk = delete_chunk(e.tweet) if deleted else tweet_chunk(e.tweet)
        tweet_id = None if deleted else e.tweet.id
        for owner_id in owners:
            _offer_all(self.owners[owner_id].streams, tweet_id, chunk)
