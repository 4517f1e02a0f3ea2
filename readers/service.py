"""The read side of API.md; a page is one partition read plus the high-follower merge."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from engine import registrations
from engine.cache import TtlCache
from engine.config import Settings
from engine.errors import NotFound
from engine.http import page_query, path_id, respond, tweet_json, user_json
from engine.merge import merge
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import PageQuery, Tweet, User
from readers.activity import HomeActivity
from readers.pages import require_user, tweet_page, users_page
from readers.search import SearchReaders

FOLLOWED_CACHE_USERS = 100_000


class ReadersRoutes:
    """The read routes: timelines, users and tweets from the projections, over a backend
    whose connections it does not own."""

    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        ttl_s = settings.celebrity_cache_s
        self._celebrities: TtlCache[None, set[int]] = TtlCache(ttl_s, size=1)
        self._celebrities_lock = asyncio.Lock()
        # per reader: the high-follower set it was computed against, and those it follows
        self._followed: TtlCache[int, tuple[set[int], list[int]]] = TtlCache(
            ttl_s, size=FOLLOWED_CACHE_USERS
        )
        self.activity = HomeActivity(settings, backend, metrics)

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
        if not self.activity.fresh(user_id):  # a return, a rebuild still due, or a read to record
            await self._require_user(user_id)
            await self.activity.before_read(user_id)
        _, tweets = await asyncio.gather(
            self._require_user(user_id), self.home_tweets(user_id, query.probe())
        )
        return tweet_page(request, tweets, query.count)

    async def home_tweets(self, user_id: int, query: PageQuery) -> list[Tweet]:
        """A home page's tweets: the timeline's own rows merged with followed high-follower
        authors' tweets, newest first (also the backlog a resumed stream sends)."""
        own, merged = await asyncio.gather(
            self.backend.timelines.home_page(user_id, query),
            self._celebrity_pages(user_id, query),
        )
        return merge([own, *merged], query.count)

    async def _celebrity_pages(self, user_id: int, query: PageQuery) -> list[list[Tweet]]:
        celebrities = await self._celebrity_set()
        if not celebrities:
            return []
        followed = [*await self._followed_celebrities(user_id, celebrities)]
        if user_id in celebrities:
            followed.append(user_id)
        return list(
            await asyncio.gather(
                *(self.backend.timelines.user_page(author, query) for author in followed)
            )
        )

    async def _followed_celebrities(self, user_id: int, celebrities: set[int]) -> list[int]:
        """Which high-follower authors the user follows, remembered for as long as the set of
        those authors is (TIMELINE_CELEBRITY_CACHE_S): a page costs no graph read then."""
        hit = self._followed.peek(user_id)
        if hit is not None and hit[0] is celebrities:
            return hit[1]
        issued_at = self._followed.now()
        followed = await self.backend.graph.followed_among(user_id, sorted(celebrities))
        self._followed.put(user_id, (celebrities, followed), issued_at)
        return followed

    async def _celebrity_set(self) -> set[int]:
        async with self._celebrities_lock:
            return await self._celebrities.get(None, self._load_celebrities)

    async def _load_celebrities(self, _: None) -> set[int]:
        return await self.backend.timelines.celebrities()

    async def user_timeline(self, request: web.Request) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        _, tweets = await asyncio.gather(
            self._require_user(user_id), self.backend.timelines.user_page(user_id, query.probe())
        )
        return tweet_page(request, tweets, query.count)

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
