"""The read side of API.md; a home page is one partition read, merged with the high-follower
authors' tweets held in memory (readers/celebrities.py), and sent as JSON encoded once per tweet
(readers/tweets.py)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from engine import registrations
from engine.config import Settings
from engine.consistency import HEADER, PARAMETER
from engine.errors import NotFound
from engine.http import page_query, path_id, respond, tweet_json, user_json
from engine.merge import merge
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import PageQuery, User
from readers.activity import HomeActivity
from readers.celebrities import HighFollowers
from readers.pages import known_user, require_user, users_page
from readers.search import SearchReaders
from readers.tweets import ReadyTweet, TweetJson, tweets_answer

READ_PAST = 2
"""Home rows read beyond a page (and its probe row): a row of a tweet deleted since, not yet
removed, is skipped without a second read unless more than this many fall in one page."""


class ReadersRoutes:
    """The read routes: timelines, users and tweets from the projections, over a backend
    whose connections it does not own."""

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.tweets = TweetJson()
        self.high_followers = HighFollowers(settings, backend, self.tweets)
        self.activity = HomeActivity(settings, backend, metrics)

    def install(self, app: web.Application) -> None:
        """Add the routes, and run the high-follower refresh with the application."""
        app.add_routes(self.routes())
        app.on_startup.append(lambda _: self.high_followers.start())
        app.on_cleanup.append(lambda _: self.high_followers.stop())

    def routes(self) -> list[web.RouteDef]:
        """The read routes of API.md."""
        return [
            web.get("/v1/users/by_handle/{handle}", self.user_by_handle),
            web.get("/v1/users/{id}", self.user),
            web.get("/v1/users/{id}/home_timeline", self.home_timeline),
            web.get("/v1/users/{id}/tweets", self.user_timeline),
            web.get("/v1/users/{id}/followers", self.followers),
            web.get("/v1/users/{id}/following", self.following),
            web.get("/v1/tweets/{id}", self.tweet),
            *SearchReaders(self.settings, self.backend).routes(),
        ]

    async def user(self, request: web.Request) -> web.Response:
        return respond(request, user_json(await self._user(path_id(request, "id"))))

    async def user_by_handle(self, request: web.Request) -> web.Response:
        handle = request.match_info["handle"]
        user = await self.backend.users.get_user_by_handle(handle)
        if user is None:
            owner = await registrations.handle_owner(self.backend, handle)
            user = await registrations.registered_user(self.backend, owner) if owner else None
        if user is None:
            raise NotFound(f"no user has the handle {handle!r}", code="user_not_found")
        return respond(request, user_json(user))

    async def _user(self, user_id: int) -> User:
        user = await self.backend.users.get_user(user_id)
        if user is None:  # registered, and the projection has not caught up yet
            user = await registrations.registered_user(self.backend, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist", code="user_not_found")
        return user

    async def _require_user(self, user_id: int) -> None:
        await require_user(self.backend, user_id)

    async def home_timeline(self, request: web.Request) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        await self.activity.before_read(user_id, functools.partial(self._require_user, user_id))
        fresh = HEADER in request.headers or PARAMETER in request.query
        tweets = await self.home_tweets(user_id, query.probe(), fresh)
        return tweets_answer(request, tweets, query.count)

    async def home_tweets(
        self, user_id: int, query: PageQuery, fresh: bool = False
    ) -> list[ReadyTweet]:
        """A home page's tweets: the timeline's own rows merged with followed high-follower
        authors' tweets, newest first (also the backlog a resumed stream sends). With `fresh`,
        nothing about high-follower authors comes from memory (readers/celebrities.py)."""
        held = None if fresh else self.high_followers.held(user_id, query)
        if held is not None:  # the steady state: the page's rows, and tweets held
            own = await self._own(user_id, query)
            if not any(held):  # nothing to merge: the rows are newest first, one per tweet
                return own
            merged = held
        else:
            own, merged = await asyncio.gather(
                self._own(user_id, query), self.high_followers.pages(user_id, query, fresh)
            )
        return merge([own, *merged], query.count)

    async def _own(self, user_id: int, query: PageQuery) -> list[ReadyTweet]:
        """The home timeline's own rows made whole: one read, and one more for the tweets this
        process holds no copy of; rows of deleted tweets (not removed yet) are read past,
        READ_PAST of them within the first read."""
        timelines, want = self.backend.timelines, query.count
        found: list[ReadyTweet] = []
        read = PageQuery(want + READ_PAST, query.max_id, query.since_id)
        while True:
            rows = await timelines.home_rows(user_id, read)
            found += await self.tweets.hydrate(rows, timelines)
            if len(rows) < read.count or len(found) >= want:
                return found[:want]
            read = PageQuery(want - len(found) + READ_PAST, rows[-1].tweet_id - 1, query.since_id)

    async def user_timeline(self, request: web.Request) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        read = self.backend.timelines.user_page(user_id, query.probe())
        if known_user(self.backend, user_id):
            tweets = await read
        else:
            _, tweets = await asyncio.gather(self._require_user(user_id), read)
        return tweets_answer(request, self.tweets.ready_all(tweets), query.count)

    async def followers(self, request: web.Request) -> web.Response:
        return await self._user_page(request, self.backend.graph.follower_ids)

    async def following(self, request: web.Request) -> web.Response:
        return await self._user_page(request, self.backend.graph.following_ids)

    async def _user_page(self, request: web.Request, source: Any) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        await self._require_user(user_id)
        ids: list[int] = await source(user_id, query.probe_size, query.max_id)
        return await users_page(request, self.backend, ids, query)

    async def tweet(self, request: web.Request) -> web.Response:
        tweet_id = path_id(request, "id")
        tweet = await self.backend.timelines.get_tweet(tweet_id)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} does not exist", code="not_found")
        return respond(request, tweet_json(tweet))
