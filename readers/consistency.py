"""Reads that present a consistency token wait until their view has applied it.

A write's answer carries `Consistency-Token` (where its events lie in the log). A read that
presents it, in the header of that name or the `consistency_token` query parameter, waits,
bounded by TIMELINE_FOLLOWUP_WAIT_MS, until every consumer group that writes the view it
reads has committed past each position on a topic that group reads; then it is served as
usual. Past the bound: 503 `projection_lagging`. Reads without a token pay nothing.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.config import Settings
from engine.consistency import HEADER, PARAMETER, parse_token
from engine.groups import PROJECTION_TOPICS, group_name
from engine.http import Handler
from engine.progress import LogProgress, Positions

# The projections (by name, engine/groups.py) that write what each read route shows.
ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/tweets/{id}": ("timelines",),
    "/v1/users/{id}": ("timelines",),
    "/v1/users/by_handle/{handle}": ("timelines",),
    "/v1/users/{id}/tweets": ("timelines",),
    "/v1/users/{id}/home_timeline": ("timelines",),
    "/v1/users/{id}/followers": ("timelines",),
    "/v1/users/{id}/following": ("timelines",),
    "/v1/users/{id}/mentions": ("index",),
    "/v1/hashtags/{tag}/tweets": ("index",),
    "/v1/users/{id}/direct_messages": ("messages",),
    "/v1/lists/{list_id}": ("lists",),
    "/v1/lists/{list_id}/tweets": ("lists",),
    "/v1/lists/{list_id}/members": ("lists", "timelines"),
    "/v1/search/tweets": ("search",),
    "/v1/trends": ("trends",),
}
LIST_ROUTES = "/v1/lists/"  # any other list read is served by the lists projection


def projections_of(route: str) -> tuple[str, ...]:
    """The projections a read route shows; () for routes that take no token."""
    found = ROUTES.get(route)
    if found is None and route.startswith(LIST_ROUTES) and not route.endswith("/stream"):
        return ("lists",)
    return found or ()


def targets(
    settings: Settings, projections: tuple[str, ...], token: dict[tuple[str, int], int]
) -> dict[str, Positions]:
    """group -> (topic, partition) -> the offset it must have committed (one past the event)."""
    return {
        group_name(settings, name): {
            tp: offset + 1 for tp, offset in token.items() if tp[0] in PROJECTION_TOPICS[name]
        }
        for name in projections
    }


def consistency_middleware(settings: Settings, progress: LogProgress) -> Middleware:
    """Make a GET with a consistency token wait for its view; others pass straight through."""
    wait_s = settings.followup_wait_ms / 1000

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.headers.get(HEADER) or request.query.get(PARAMETER)
        if raw is None or request.method != "GET":
            return await handler(request)
        resource = request.match_info.route.resource
        projections = projections_of(resource.canonical if resource is not None else "")
        if projections:
            wanted = targets(settings, projections, parse_token(raw))
            await progress.wait_applied(wanted, wait_s)
        return await handler(request)

    return middleware
