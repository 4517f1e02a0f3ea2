"""Hostile input gets a 4xx with a stable code and writes nothing; a client that hangs up
mid-body is not an error."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import AppRunner, BaseRunner

from engine.events import GRAPH_TOPIC, MESSAGES_TOPIC, TWEETS_TOPIC
from tests.support import Api, eventually, raw_request
from timeline.app import Engine

TOKEN = "writer-token-0123456789"
HUGE = "9" * 4301  # more digits than int() converts
DEEP = 1000


async def log_ends(engine: Engine) -> dict[tuple[str, int], int]:
    assert engine.backend is not None
    tail = engine.backend.tail([TWEETS_TOPIC, GRAPH_TOPIC, MESSAGES_TOPIC])
    async with tail:
        return await tail.end_offsets()


def metric(engine: Engine, name: str, **labels: str) -> float:
    return engine.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest_asyncio.fixture(scope="module")
async def guarded(engine: Engine) -> AsyncIterator[TestClient]:
    """The engine's routes behind a service token."""
    front = Engine(dataclasses.replace(engine.settings, tokens=f"rw={TOKEN}:read+write"))
    front.parts = ("ingest", "readers")
    front.backend, front.ids = engine.backend, engine.ids
    front.metrics = engine.metrics
    client = TestClient(TestServer(front.web_app()))
    await client.start_server()
    yield client
    await client.close()


async def test_deep_huge_and_foreign_numbers_get_4xx_and_write_nothing(
    api: Api, engine: Engine
) -> None:
    user = await api.user()
    uid = user["id"]
    before = await log_ends(engine)
    nested = "[" * DEEP + "]" * DEEP
    deep_json = json.dumps({"author_id": uid, "text": "x", "extra": 0}).replace("0}", nested + "}")
    deep_pack = b"\x83" + msgpack.packb("author_id") + msgpack.packb(uid)
    deep_pack += msgpack.packb("text") + msgpack.packb("x") + msgpack.packb("extra")
    deep_pack += b"\x91" * DEEP + msgpack.packb(0)
    bodies = [
        (deep_json.encode(), "application/json"),
        (deep_pack, "application/msgpack"),
        (f'{{"author_id": {HUGE}, "text": "x"}}'.encode(), "application/json"),
    ]
    for body, content_type in bodies:
        resp = await api.client.post(
            "/v1/tweets", data=body, headers={"Content-Type": content_type}
        )
        assert resp.status == 400, (content_type, await resp.text())
        assert (await resp.json())["error"]["code"] == "invalid_body"
    for path, count in [
        (f"/v1/users/{uid}/home_timeline", HUGE),
        (f"/v1/users/{uid}/tweets", "٣"),
        ("/v1/trends", "²"),
        ("/v1/trends", "٣"),
        ("/v1/trends", HUGE),
    ]:
        err = await api.call("GET", path, 400, params={"count": count})
        assert err["error"]["code"] == "invalid_count", (path, count)
    err = await api.call("GET", f"/v1/users/{uid}/following", 400, params={"max_id": "٣"})
    assert err["error"]["code"] == "invalid_id"
    assert await log_ends(engine) == before
    assert (await api.call("GET", "/v1/trends", 200, params={"count": "3"}))["trends"] is not None


async def test_header_bytes_that_are_not_utf8_get_400_and_write_nothing(
    api: Api, engine: Engine, guarded: TestClient
) -> None:
    user = await api.user()
    body = json.dumps({"author_id": user["id"], "text": "keyed"}).encode()
    before = await log_ends(engine)
    post = b"POST /v1/tweets HTTP/1.1\nHost: t\nContent-Type: application/json\n"
    post += b"Content-Length: %d\n" % len(body)
    for client, head in [
        (api.client, post + b"Idempotency-Key: k\xe9y\n"),
        (api.client, post + b"Idempotency-Key: caf\xc3\xa9\n"),  # UTF-8, but not ASCII
        (guarded, post + b"Authorization: Bearer \xff\xfe-token\n"),
    ]:
        status, answer = await raw_request(client, head, body)
        assert (status, answer["error"]["code"]) == (400, "invalid_header"), head
    assert await log_ends(engine) == before
    status, _ = await raw_request(guarded, post + f"Authorization: Bearer {TOKEN}\n".encode(), body)
    assert status == 202


class ServedServer(TestServer):
    """The application served as `timeline` serves it: a handler whose client went away is
    not cancelled (aiohttp's test server cancels it), it finds the body cut short."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return AppRunner(self.app, **{**kwargs, "handler_cancellation": False})


async def test_a_client_that_hangs_up_mid_body_is_not_an_error(engine: Engine) -> None:
    assert engine.app is not None
    server = ServedServer(engine.app)
    await server.start_server()
    try:
        await _hang_up(server, engine)
    finally:
        await server.close()


async def _hang_up(server: TestServer, engine: Engine) -> None:
    labels = {"method": "POST", "route": "/v1/tweets", "status": "499"}
    hung_up = metric(engine, "timeline_http_requests_total", **labels)
    errors = metric(engine, "timeline_errors_total", code="internal_error")
    before = await log_ends(engine)
    head = b"POST /v1/tweets HTTP/1.1\nHost: t\nContent-Type: application/json\n"
    await raw_request(server, head + b"Content-Length: 1000\n", b'{"text": "hal', hang_up=True)

    async def counted() -> float:
        return metric(engine, "timeline_http_requests_total", **labels)

    await eventually(counted, lambda n: n == hung_up + 1)
    assert metric(engine, "timeline_errors_total", code="internal_error") == errors
    assert await log_ends(engine) == before
