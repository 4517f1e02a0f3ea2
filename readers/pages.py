"""Helpers every read route shares: answers to probe pages and user checks."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from engine import registrations
from engine.cache import KnownCache
from engine.errors import NotFound
from engine.http import page_json, respond, tweet_json, user_json
from engine.ports import Backend, IngestRegistry
from engine.records import PageQuery, Tweet, User


def tweet_page(request: web.Request, tweets: Sequence[Tweet], count: int) -> web.Response:
    """A page of tweets from a probe's result."""
    last = tweets[count - 1].id if len(tweets) > count else None
    return respond(request, page_json([tweet_json(t) for t in tweets], count, "tweets", last))


async def users_page(
    request: web.Request, backend: Backend, ids: Sequence[int], query: PageQuery
) -> web.Response:
    """A page of users from ids read highest first with a probe row (query.probe_size, <= max_id):
    newer than since_id, with next_max_id only when there is more."""
    if query.since_id is not None:
        ids = [i for i in ids if i > query.since_id]
    users = await backend.users.get_users(ids[: query.count])
    page: dict[str, Any] = {"users": [user_json(u) for u in users]}
    if len(ids) > query.count:
        page["next_max_id"] = str(ids[query.count - 1] - 1)
    return respond(request, page)


# Registrations never go away: a user found once is remembered, per registry, so a page
# costs no registry read once its owner has been seen.
_KNOWN: weakref.WeakKeyDictionary[IngestRegistry, KnownCache[int, User]] = (
    weakref.WeakKeyDictionary()
)


def _known(backend: Backend) -> KnownCache[int, User]:
    known = _KNOWN.get(backend.registry)
    if known is None:
        known = _KNOWN[backend.registry] = KnownCache()
    return known


def known_user(backend: Backend, user_id: int) -> bool:
    """True when this process found the user registered before (then they are for good)."""
    return _known(backend).knows(user_id)


async def require_user(backend: Backend, user_id: int) -> None:
    """NotFound unless the user is registered."""
    known = _known(backend)
    if await known.get(user_id, functools.partial(registrations.registered_user, backend)) is None:
        raise NotFound(f"user {user_id} does not exist", code="user_not_found")
