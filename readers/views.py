"""Read routes of the further projections: mentions, hashtags, lists, messages, trends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from engine.auth import needs_scope
from engine.config import Settings
from engine.errors import InvalidInput, NotFound
from engine.http import message_json, page_query, path_id, query_int, respond
from engine.ids import parse_id
from engine.ports import Backend
from engine.records import UserList
from engine.text import normalize_tag
from readers.pages import require_user, tweet_page, users_page
from readers.trends import TopTrends

WINDOWS_MIN = {"5m": 5, "15m": 15, "1h": 60, "6h": 360, "24h": 1440}
MAX_TRENDS = 50


class ViewReaders:
    """Serves the views the indexers keep: mentions, hashtags, lists, messages and trends."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self._trends = TopTrends(self._window_sum, MAX_TRENDS, settings.trends_cache_s)

    def routes(self) -> list[web.RouteDef]:
        """The routes of this part of API.md."""
        return [
            web.get("/v1/users/{id}/mentions", self.mentions),
            web.get("/v1/users/{id}/direct_messages", self.direct_messages),
            web.get("/v1/hashtags/{tag}/tweets", self.hashtag),
            web.get("/v1/lists/{list_id}", self.list_info),
            web.get("/v1/lists/{list_id}/tweets", self.list_timeline),
            web.get("/v1/lists/{list_id}/members", self.list_members),
            web.get("/v1/trends", self.trends),
        ]

    async def mentions(self, request: web.Request) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        _, tweets = await asyncio.gather(
            require_user(self.backend, user_id),
            self.backend.index.mention_page(user_id, query.probe()),
        )
        return tweet_page(request, tweets, query.count)

    async def hashtag(self, request: web.Request) -> web.Response:
        tag = request.match_info["tag"].removeprefix("#")
        if not tag or len(tag) > 140:
            raise InvalidInput("a hashtag is 1-140 characters", code="invalid_hashtag")
        query = page_query(request)
        tweets = await self.backend.index.tag_page(normalize_tag(tag), query.probe())
        return tweet_page(request, tweets, query.count)

    @needs_scope("dm")
    async def direct_messages(self, request: web.Request) -> web.Response:
        user_id, query = path_id(request, "id"), page_query(request)
        other = request.query.get("with")
        other_id = parse_id(other, what="with") if other is not None else None
        await require_user(self.backend, user_id)
        found = await self.backend.messages.page(user_id, query.probe(), other_id)
        page: dict[str, Any] = {"messages": [message_json(m) for m in found[: query.count]]}
        if len(found) > query.count:
            page["next_max_id"] = str(found[query.count - 1].id - 1)
        return respond(request, page)

    async def _list(self, request: web.Request) -> UserList:
        list_id = path_id(request, "list_id")
        user_list = await self.backend.lists.get_list(list_id)
        if user_list is None:
            raise NotFound(f"list {list_id} does not exist", code="list_not_found")
        return user_list

    async def list_info(self, request: web.Request) -> web.Response:
        user_list = await self._list(request)
        cap = self.settings.list_max_members
        members = await self.backend.lists.member_ids(user_list.id, cap)
        return respond(
            request,
            {
                "id": str(user_list.id),
                "owner_id": str(user_list.owner_id),
                "name": user_list.name,
                "member_ids": [str(m) for m in members],
            },
        )

    async def list_timeline(self, request: web.Request) -> web.Response:
        user_list, query = await self._list(request), page_query(request)
        tweets = await self.backend.lists.list_page(user_list.id, query.probe())
        return tweet_page(request, tweets, query.count)

    async def list_members(self, request: web.Request) -> web.Response:
        """Members, highest id first, paged like followers (count, max_id, since_id)."""
        user_list, query = await self._list(request), page_query(request)
        ids = await self.backend.lists.member_page(user_list.id, query.probe_size, query.max_id)
        return await users_page(request, self.backend, ids, query)

    async def trends(self, request: web.Request) -> web.Response:
        window = request.query.get("window", "1h")
        if window not in WINDOWS_MIN:
            raise InvalidInput(
                f"window must be one of {', '.join(WINDOWS_MIN)}", code="invalid_window"
            )
        limit = query_int(request, "count", 10, MAX_TRENDS, "invalid_count")
        top = await self._trends.top(WINDOWS_MIN[window], limit)
        return respond(
            request, {"window": window, "trends": [{"hashtag": t, "count": n} for t, n in top]}
        )

    async def _window_sum(self, minutes: Sequence[int]) -> dict[str, int]:
        return await self.backend.trends.window(minutes)
