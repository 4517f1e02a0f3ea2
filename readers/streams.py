"""Live streams (Server-Sent Events) of home timelines and hashtags, as the projections write.

One `AppliedFeed` per process follows the fan-out group (home streams: tweets, deletes, and
the follows that change whose tweets a home timeline gets) and one the index group (hashtag
streams). A stream subscribes first, so live events queue up, then reads what it missed
after `Last-Event-ID` from the store (the same pages as GET home_timeline and GET
hashtags/{tag}/tweets with since_id), sends that oldest first, then the queue without the
ids it already sent. A client that cannot keep up (its queue full, or a write that does not
finish within TIMELINE_STREAM_WRITE_TIMEOUT_S) gets a last `event: error` with the code
`slow_consumer` where the connection still takes it, and is disconnected. A process holds
at most TIMELINE_STREAM_MAX streams; one more is answered 503 `too_many_streams` with
`Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

from aiohttp import web

from engine.config import Settings
from engine.errors import InvalidInput, TimelineError, Unavailable
from engine.events import Followed, TweetDeleted, TweetPosted, Unfollowed
from engine.groups import INDEX, PROJECTION_TOPICS, TIMELINES, group_name
from engine.http import MAX_PAGE, path_id
from engine.ids import parse_id
from engine.lifecycle import Background
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import PageQuery
from engine.text import normalize_tag
from readers.activity import HomeActivity
from readers.pages import require_user
from readers.routing import HomeRouter, Item, Subscriber, TagRouter, ready_chunk, sse
from readers.tail import AppliedFeed
from readers.tweets import ReadyTweet, TweetJson

log = logging.getLogger(__name__)
Read = Callable[[PageQuery], Awaitable[list[ReadyTweet]]]
READY_WAIT_S = 10.0
DEDUPE_FOR_S = 60.0
REFUSED_RETRY_S = 5
OPENING = b"retry: 2000\n: stream open\n\n"
HEARTBEAT = b": keep-alive\n\n"
MESSAGES = {
    "slow_consumer": "the client did not read the stream fast enough",
    "shutting_down": "the server is shutting down; reconnect with Last-Event-ID",
}


class HomeReader(Protocol):
    """What a home stream needs of the home timeline reader."""

    activity: HomeActivity
    tweets: TweetJson

    async def home_tweets(self, user_id: int, query: PageQuery) -> list[ReadyTweet]:
        """A home page's tweets, newest first."""
        ...


class StreamRoutes(Background):
    """The stream routes, their two feeds, and every open stream of this process; between
    start() and stop() (the application's startup and cleanup) a task wakes the streams for
    their heartbeats, and stop() stops the feeds."""

    task_name = "stream-heartbeats"

    def __init__(
        self, settings: Settings, backend: Backend, metrics: Metrics, home: HomeReader
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.home_reader = home
        self.home = HomeRouter(backend)
        self.tags = TagRouter()
        self.open: set[Subscriber] = set()
        self.taken = 0  # streams opening or open: at most TIMELINE_STREAM_MAX
        kinds = (Followed, Unfollowed, TweetPosted, TweetDeleted)
        self.home_feed = AppliedFeed(
            settings,
            backend,
            group_name(settings, TIMELINES),
            PROJECTION_TOPICS[TIMELINES],
            kinds,
            self.home.deliver,
        )
        self.tag_feed = AppliedFeed(
            settings,
            backend,
            group_name(settings, INDEX),
            PROJECTION_TOPICS[INDEX],
            kinds[2:],
            self.tags.deliver,
        )

    def install(self, app: web.Application) -> None:
        """Add the routes, and start and stop the feeds with the application."""
        app.add_routes(
            [
                web.get("/v1/users/{id}/home_timeline/stream", self.home_stream),
                web.get("/v1/hashtags/{tag}/stream", self.hashtag_stream),
            ]
        )
        # The feeds start with the first stream of their kind: a readers process that serves
        # no stream does not read the log at all.
        app.on_startup.append(lambda _: self.start())
        app.on_shutdown.append(self._close_streams)
        app.on_cleanup.append(lambda _: self.stop())

    async def _run(self) -> None:
        """Wake every stream once a heartbeat period, so idle ones write a comment line."""
        while True:
            await asyncio.sleep(self.settings.stream_heartbeat_s)
            for sub in list(self.open):
                sub.beat()

    async def _close_streams(self, app: web.Application) -> None:
        for sub in list(self.open):
            sub.end("shutting_down")

    async def _close(self) -> None:
        await asyncio.gather(self.home_feed.stop(), self.tag_feed.stop())

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of the process's TIMELINE_STREAM_MAX streams, or refuse with 503."""
        if self.taken >= self.settings.stream_max:
            self.metrics.streams_refused.inc()
            message = f"this process holds its maximum of {self.settings.stream_max} streams"
            raise Unavailable(message, code="too_many_streams", retry_after_s=REFUSED_RETRY_S)
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1

    async def home_stream(self, request: web.Request) -> web.StreamResponse:
        with self._slot():
            return await self._home_stream(request)

    async def hashtag_stream(self, request: web.Request) -> web.StreamResponse:
        with self._slot():
            return await self._hashtag_stream(request)

    async def _home_stream(self, request: web.Request) -> web.StreamResponse:
        user_id, since = path_id(request, "id"), last_event_id(request)
        check = functools.partial(require_user, self.backend, user_id)
        await self.home_reader.activity.before_read(user_id, check)  # it reads the home timeline
        await self._ready(self.home_feed)
        sub = Subscriber("home", self.settings.stream_queue_max)
        await self.home.add(user_id, sub)
        try:
            read: Read = lambda q: self.home_reader.home_tweets(user_id, q)  # noqa: E731
            return await self._serve(request, sub, read, since)
        finally:
            self.home.remove(user_id, sub)

    async def _hashtag_stream(self, request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"].removeprefix("#")
        if not tag or len(tag) > 140:
            raise InvalidInput("a hashtag is 1-140 characters", code="invalid_hashtag")
        key, since = normalize_tag(tag), last_event_id(request)
        await self._ready(self.tag_feed)
        sub = Subscriber("hashtag", self.settings.stream_queue_max)
        self.tags.add(key, sub)
        try:

            async def read(q: PageQuery) -> list[ReadyTweet]:
                return self.home_reader.tweets.ready_all(await self.backend.index.tag_page(key, q))

            return await self._serve(request, sub, read, since)
        finally:
            self.tags.remove(key, sub)

    async def _ready(self, feed: AppliedFeed) -> None:
        await feed.start()  # once; later streams find it running
        try:
            async with asyncio.timeout(READY_WAIT_S):
                await feed.ready.wait()
        except TimeoutError as e:
            message = "the live feed is not reading the log yet"
            raise Unavailable(message, code="stream_unavailable") from e

    async def _serve(
        self, request: web.Request, sub: Subscriber, read: Read, since: int | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        self._tune(request)
        await response.prepare(request)
        async with self._counted(sub):
            try:
                await self._write(request, response, OPENING)
                sent = set()
                if since is not None:
                    sent = await self._backlog(request, response, read, since)
                await self._pump(request, response, sub, sent, since)
            except ConnectionError:
                return response  # the client left
            except TimeoutError:
                sub.end("slow_consumer")  # a write did not finish in time
            except TimelineError as e:
                log.warning("stream ended: %s", e)
                sub.end(e.code)
            except Exception:  # the answer has started: it can only end with an error event
                log.exception("stream failed")
                sub.end("internal_error")
            if sub.cut is not None:
                await self._farewell(request, response, sub.cut)
        return response

    @contextlib.asynccontextmanager
    async def _counted(self, sub: Subscriber) -> AsyncIterator[None]:
        gauge = self.metrics.streams_open.labels(sub.kind)
        self.open.add(sub)
        gauge.inc()
        try:
            yield
        finally:
            self.open.discard(sub)
            gauge.dec()

    def _tune(self, request: web.Request) -> None:
        """A smaller send buffer where set, so a stalled client is noticed sooner."""
        size = self.settings.stream_send_buffer_bytes
        transport = request.transport
        if size <= 0 or transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        transport.set_write_buffer_limits(high=size)

    async def _write(self, request: web.Request, response: web.StreamResponse, data: bytes) -> None:
        """Write, bounded by the write timeout when the write may have to wait for the client
        (a write that fits under the transport's high-water mark returns at once)."""
        transport = request.transport
        if transport is not None:
            high = transport.get_write_buffer_limits()[1]
            if transport.get_write_buffer_size() + len(data) + 64 < high:
                await response.write(data)
                return
        async with asyncio.timeout(self.settings.stream_write_timeout_s):
            await response.write(data)

    async def _backlog(
        self, request: web.Request, response: web.StreamResponse, read: Read, since: int
    ) -> set[int]:
        """Send what was written after `since`, oldest first; the ids sent."""
        tweets = await backlog(read, since, self.settings.stream_resume_max)
        if tweets:
            await self._write(request, response, b"".join(map(ready_chunk, tweets)))
            self.metrics.stream_events.labels("backlog").inc(len(tweets))
        return {t.id for t in tweets}

    async def _pump(
        self,
        request: web.Request,
        response: web.StreamResponse,
        sub: Subscriber,
        sent: set[int],
        since: int | None,
    ) -> None:
        """Write queued events as they come, a heartbeat when none came, until the end."""
        dedupe_until = time.monotonic() + DEDUPE_FOR_S
        counter = self.metrics.stream_events.labels(sub.kind)
        while sub.cut is None:
            items = await sub.next()
            if sub.cut is not None:
                return
            transport = request.transport
            if transport is None or transport.is_closing():
                return  # the client left
            if sent or since is not None:
                if time.monotonic() > dedupe_until:
                    sent, since = set(), None
                items = [i for i in items if not _repeat(i, sent, since)]
            await self._write(request, response, b"".join(c for _, c in items) or HEARTBEAT)
            counter.inc(len(items))

    async def _farewell(
        self, request: web.Request, response: web.StreamResponse, code: str
    ) -> None:
        """Tell the client why the stream ends, if it still reads; then close."""
        self.metrics.stream_cutoffs.labels(code).inc()
        message = MESSAGES.get(code, "the stream cannot go on")
        try:
            await self._write(request, response, sse("error", {"code": code, "message": message}))
        except (TimeoutError, ConnectionError):
            if request.transport is not None:
                request.transport.abort()  # it does not read: drop what it was sent


def _repeat(item: Item, sent: set[int], since: int | None) -> bool:
    """A tweet the backlog already sent, or one at or before the client's Last-Event-ID."""
    tweet_id = item[0]
    if tweet_id is None:
        return False
    return tweet_id in sent or (since is not None and tweet_id <= since)


def last_event_id(request: web.Request) -> int | None:
    """The Last-Event-ID header as an id, or None."""
    raw = request.headers.get("Last-Event-ID")
    if raw is None or not raw.strip():
        return None
    return parse_id(raw.strip(), what="Last-Event-ID")


async def backlog(read: Read, since: int, limit: int) -> list[ReadyTweet]:
    """Up to `limit` tweets newer than `since`, the newest of them, oldest first."""
    found: list[ReadyTweet] = []
    max_id = None
    while len(found) < limit:
        count = min(MAX_PAGE, limit - len(found))
        page = await read(PageQuery(count, max_id, since))
        found += page
        if len(page) < count:
            break
        max_id = page[-1].id - 1
    found.reverse()
    return found
