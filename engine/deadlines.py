"""How long a client may take to send a request: its headers, then its body.

A connection is held for a client that sends half a request and stops, so each one costs a
socket and memory until it is dropped. aiohttp's keep-alive timer closes a connection on which
no complete request header arrived within `keepalive_timeout` of its opening or of the previous
answer: set to the read timeout, it bounds both a half-sent header and an idle keep-alive
connection. The middleware bounds the body: a request whose body has not fully arrived
within the read timeout of its headers has its connection dropped (the handler then sees the
client gone, as for a client that disconnects).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from engine.errors import TimelineError
from engine.http import Handler
from engine.metrics import Metrics


def server_options(read_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments of aiohttp's AppRunner (and TestServer) for these limits."""
    return {"keepalive_timeout": read_timeout_s}


class RequestTimeout(TimelineError):
    """The request's body did not arrive within the read timeout; its connection was dropped."""

    status = 408
    code = "request_timeout"


class _Deadline:
    """Drops the connection of a request whose body is not all in when it expires."""

    def __init__(self, request: web.Request, counter: Counter) -> None:
        self.request = request
        self.counter = counter
        self.expired = False

    def expire(self) -> None:
        transport = self.request.transport
        if not self.request.content.is_eof() and transport is not None:
            self.expired = True
            self.counter.inc()
            transport.abort()


def body_deadline(read_timeout_s: float, metrics: Metrics) -> web.middleware:  # type: ignore[valid-type]
    """Drop the connection of a request whose body is not in within the read timeout; the
    handler, finding the client gone, ends with 408 `request_timeout` (counted, not sent)."""

    @web.middleware
    async def bound(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)  # no body, or all of it already in
        deadline = _Deadline(request, metrics.read_timeouts)
        timer = asyncio.get_running_loop().call_later(read_timeout_s, deadline.expire)
        try:
            return await handler(request)
        except ConnectionError as e:
            if deadline.expired:
                raise RequestTimeout("the request body did not arrive in time") from e
            raise
        finally:
            timer.cancel()

    return bound
