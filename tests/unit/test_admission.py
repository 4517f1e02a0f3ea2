"""Admission control: the excess is turned away with 503 and Retry-After; the rest is served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.admission import Admission
from engine.metrics import Metrics
from tests.support import eventually

pytestmark = pytest.mark.unit


class Held:
    """An application whose /work requests wait until released."""

    def __init__(self, max_in_flight: int, wait_ms: int, max_lag_ms: int = 0) -> None:
        self.metrics = Metrics()
        self.admission = Admission(max_in_flight, wait_ms, self.metrics, max_lag_ms)
        self.release = asyncio.Event()
        self.app = web.Application(middlewares=[self.admission.middleware])
        self.app.add_routes([web.get("/work", self.work), web.get("/healthz", self.work)])

    async def work(self, request: web.Request) -> web.Response:
        if request.path == "/work":
            await self.release.wait()
        return web.json_response({"ok": True})

    def shed(self) -> float:
        return self.metrics.registry.get_sample_value("timeline_http_requests_shed_total") or 0


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[Held, TestClient]]:
    held = Held(max_in_flight=2, wait_ms=0)
    client = TestClient(TestServer(held.app))
    await client.start_server()
    yield held, client
    held.release.set()
    await client.close()


async def in_flight(held: Held, n: int) -> None:
    await eventually(lambda: asyncio.sleep(0, held.admission.in_flight), lambda v: v == n)


async def test_the_excess_gets_503_overloaded_with_retry_after(
    served: tuple[Held, TestClient],
) -> None:
    held, client = served
    first = [asyncio.create_task(client.get("/work")) for _ in range(2)]
    await in_flight(held, 2)
    refused = await client.get("/work")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"]["code"] == "overloaded"
    assert (await client.get("/healthz")).status == 200  # health is never turned away
    held.release.set()
    assert [(await t).status for t in first] == [200, 200]
    assert (await client.get("/work")).status == 200
    assert held.shed() == 1
    assert held.admission.in_flight == 0


async def test_a_request_waits_for_a_slot_within_the_wait() -> None:
    held = Held(max_in_flight=1, wait_ms=60_000)
    async with TestClient(TestServer(held.app)) as client:
        first = asyncio.create_task(client.get("/work"))
        await in_flight(held, 1)
        second = asyncio.create_task(client.get("/work"))
        await eventually(lambda: asyncio.sleep(0, held.admission.waiting()), lambda n: n == 1)
        held.release.set()
        assert [(await first).status, (await second).status] == [200, 200]
        assert held.shed() == 0
        assert held.admission.in_flight == 0


async def test_a_wait_that_runs_out_is_turned_away() -> None:
    held = Held(max_in_flight=1, wait_ms=20)
    async with TestClient(TestServer(held.app)) as client:
        first = asyncio.create_task(client.get("/work"))
        await in_flight(held, 1)
        refused = await client.get("/work")
        assert refused.status == 503 and refused.headers["Retry-After"] == "1"
        held.release.set()
        assert (await first).status == 200
        assert held.admission.waiting() == 0 and held.admission.in_flight == 0


async def test_msgpack_clients_get_msgpack_refusals(served: tuple[Held, TestClient]) -> None:
    held, client = served
    busy = [asyncio.create_task(client.get("/work")) for _ in range(2)]
    await in_flight(held, 2)
    refused = await client.get("/work", headers={"Accept": "application/msgpack"})
    assert refused.status == 503 and refused.content_type == "application/msgpack"
    held.release.set()
    await asyncio.gather(*busy)


async def test_while_the_event_loop_lags_under_requests_they_are_turned_away_at_once() -> None:
    held = Held(max_in_flight=8, wait_ms=60_000, max_lag_ms=50)
    async with TestClient(TestServer(held.app)) as client:
        held.admission.lag_s = 0.2  # as the watcher measures a loop 200 ms behind
        busy = asyncio.create_task(client.get("/work"))  # lag alone, no requests: admitted
        await in_flight(held, 1)  # now an eighth of the slots are taken
        refused = await client.get("/work")
        assert refused.status == 503 and refused.headers["Retry-After"] == "1"
        assert (await client.get("/healthz")).status == 200
        held.admission.lag_s = 0.01
        held.release.set()
        assert (await busy).status == 200
        assert (await client.get("/work")).status == 200
        assert held.shed() == 1


async def test_the_lag_watcher_runs_with_the_application() -> None:
    held = Held(max_in_flight=100, wait_ms=0, max_lag_ms=50)
    held.admission.install(held.app)
    async with TestClient(TestServer(held.app)):
        assert held.admission.running
    assert not held.admission.running
