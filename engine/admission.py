"""Admission control: a bounded number of requests in flight and a bounded wait for a slot.

A process that takes every request it is offered queues them without bound once offered more
than it serves, and then answers all of them late. Here at most `max_in_flight` requests run
at once; a request that finds no free slot waits at most `wait_ms` for one, in arrival order,
and is otherwise answered 503 `overloaded` with `Retry-After` at once, so that the requests
accepted keep their latency. A bound on requests in flight alone does not see a process whose
event loop is the bottleneck (its requests queue before any handler runs, and those admitted
hold their slots across ever longer loop iterations), so while the loop runs callbacks more
than `max_lag_ms` late and at least an eighth of the slots are taken, new requests are turned
away at once. The middleware runs first,
before authentication and before the body is read, and its answer is encoded once: turning a
request away costs as little as the stack allows. Health, readiness, metrics and live streams
(capped on their own) are never turned away.
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import web

from engine.http import MSGPACK, Handler, encode_body, error_payload
from engine.lifecycle import Background
from engine.metrics import Metrics

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
STREAM_SUFFIX = "/stream"
RETRY_AFTER_S = 1
LAG_TICK_S = 0.01
LAG_SMOOTHING = 0.3
LAG_BUSY_SHARE = 8
MESSAGE = "the server is busy; retry after the Retry-After delay"


class Admission(Background):
    """The in-flight slots of one process, and the middleware that hands them out; between
    start() and stop() (the application's startup and cleanup), a task watches the loop's lag."""

    task_name = "admission-lag"

    def __init__(
        self, max_in_flight: int, wait_ms: int, metrics: Metrics, max_lag_ms: int = 0
    ) -> None:
        self.max_in_flight = max_in_flight
        self.wait_s = wait_ms / 1000
        self.max_lag_s = max_lag_ms / 1000
        self.lag_s = 0.0  # how late the event loop runs callbacks, smoothed
        self.in_flight = 0
        self._queue: deque[asyncio.Future[None]] = deque()  # waiters, oldest first
        self._shed = metrics.requests_shed
        metrics.requests_in_flight.set_function(lambda: self.in_flight)
        self._answers = {
            as_msgpack: encode_body(error_payload("overloaded", MESSAGE), as_msgpack)
            for as_msgpack in (False, True)
        }

    def install(self, app: web.Application) -> None:
        """Watch the event loop's lag while the application runs."""
        app.on_startup.append(lambda _: self.start())
        app.on_cleanup.append(lambda _: self.stop())

    async def start(self) -> None:
        """Watch the lag, when a lag bound is set (and admission is on)."""
        if self.max_in_flight > 0 and self.max_lag_s > 0:
            await super().start()

    async def _run(self) -> None:
        """Every tick, how much later than asked the loop woke up: the time a callback, and
        so a request just read, waits for the loop (smoothed over a few ticks)."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(LAG_TICK_S)
            lag = max(0.0, loop.time() - asked - LAG_TICK_S)
            self.lag_s = LAG_SMOOTHING * lag + (1 - LAG_SMOOTHING) * self.lag_s

    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return sum(1 for slot in self._queue if not slot.done())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the request in a slot, or answer 503 `overloaded` when none frees in time."""
        if self.max_in_flight <= 0 or _exempt(request.path):
            return await handler(request)
        if not await self._enter():
            return self._overloaded(request)
        try:
            return await handler(request)
        finally:
            self._leave()

    async def _enter(self) -> bool:
        """Take a slot: at once when one is free, else within the wait, else not at all."""
        if self._lagging():
            return False  # the loop itself is behind: waiting would only add to it
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()  # waiters that gave up
        if self.in_flight < self.max_in_flight and not queue:
            self.in_flight += 1
            return True
        if self.wait_s <= 0:
            return False
        slot = asyncio.get_running_loop().create_future()
        queue.append(slot)
        try:
            async with asyncio.timeout(self.wait_s):
                await slot
        except TimeoutError:
            return _handed(slot)  # the slot may have come as the wait ran out
        except asyncio.CancelledError:
            if _handed(slot):
                self._leave()  # cancelled after a slot was handed over: pass it on
            raise
        return True

    def _lagging(self) -> bool:
        """The loop is behind while requests keep it busy (at least an eighth of the slots
        taken): a loop slowed by background work alone, such as consumers catching up in the
        same process, turns no request away."""
        return (
            self.max_lag_s > 0
            and self.lag_s > self.max_lag_s
            and self.in_flight * LAG_BUSY_SHARE >= self.max_in_flight
        )

    def _leave(self) -> None:
        """Hand the slot to the oldest waiter still waiting, or free it."""
        queue = self._queue
        while queue:
            slot = queue.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.in_flight -= 1

    def _overloaded(self, request: web.Request) -> web.Response:
        self._shed.inc()
        body, content_type = self._answers[MSGPACK in request.headers.get("Accept", "")]
        return web.Response(
            body=body,
            status=503,
            content_type=content_type,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def _handed(slot: asyncio.Future[None]) -> bool:
    return slot.done() and not slot.cancelled()


def _exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.endswith(STREAM_SUFFIX)
