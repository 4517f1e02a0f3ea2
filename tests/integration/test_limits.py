"""Limits of one HTTP process: admission control, read deadlines, the stream cap, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.deadlines import server_options
from tests.support import Api, eventually
from timeline.app import Engine

Process = tuple[Engine, TestClient]


@contextlib.asynccontextmanager
async def process_of(
    engine: Engine, parts: tuple[str, ...] = ("ingest", "readers"), **changes: Any
) -> AsyncIterator[Process]:
    """Another HTTP process on the same backend, with changed settings."""
    settings = dataclasses.replace(engine.settings, **changes)
    process = Engine(settings, parts=parts)
    process.backend, process.ids = engine.backend, engine.ids
    server = TestServer(process.web_app())
    await server.start_server(**server_options(settings.request_read_timeout_s))
    client = TestClient(server)
    try:
        yield process, client
    finally:
        await client.close()


def sample(process: Engine, name: str) -> float:
    return process.metrics.registry.get_sample_value(name) or 0.0


def post_head(length: int) -> bytes:
    return (
        "POST /v1/tweets HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection."""
    got = b""
    async with asyncio.timeout(10):
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(4096):
                got += chunk
    return got


async def test_the_excess_is_turned_away_and_the_accepted_requests_succeed(
    engine: Engine, api: Api
) -> None:
    author = await api.user()
    async with process_of(engine, max_in_flight=1, admission_wait_ms=0) as (process, client):
        body = json.dumps({"author_id": author["id"], "text": "held in flight"}).encode()
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(post_head(len(body)) + body[:5])  # admitted, its body still on the way
        await eventually(
            lambda: asyncio.sleep(0, sample(process, "timeline_http_requests_in_flight")),
            lambda n: n == 1,
        )
        refused = await client.get(f"/v1/users/{author['id']}")
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert (await refused.json())["error"]["code"] == "overloaded"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status == 200, path
        writer.write(body[5:])
        async with asyncio.timeout(10):
            status_line = await reader.readline()
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 202"), status_line
        assert (await client.get(f"/v1/users/{author['id']}")).status == 200
        assert sample(process, "timeline_http_requests_shed_total") == 1


async def test_a_client_that_stops_sending_is_dropped(engine: Engine) -> None:
    async with process_of(engine, request_read_timeout_s=0.5) as (process, client):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")  # the headers never end
        assert await closed_by_server(reader) == b""
        writer.close()
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(post_head(100) + b'{"author_id": ')  # the body never ends
        assert b"HTTP/1.1 2" not in await closed_by_server(reader)
        writer.close()
        assert sample(process, "timeline_http_read_timeouts_total") == 1
        assert (await client.get("/healthz")).status == 200  # whole requests are served


async def test_streams_beyond_the_cap_are_refused(engine: Engine) -> None:
    async with process_of(engine, parts=("readers",), stream_max=2, stream_heartbeat_s=0.1) as (
        process,
        client,
    ):
        paths = [f"/v1/hashtags/cap{uuid.uuid4().hex[:8]}/stream" for _ in range(3)]
        first, second = [await client.get(p) for p in paths[:2]]
        assert (first.status, second.status) == (200, 200)
        refused = await client.get(paths[2])
        assert refused.status == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await refused.json())["error"]["code"] == "too_many_streams"
        first.close()  # a stream that ends frees its place
        third = await eventually(lambda: client.get(paths[2]), lambda r: r.status == 200)
        third.close()
        second.close()
        assert sample(process, "timeline_streams_refused_total") >= 1


async def test_readyz_shows_whether_the_log_takes_writes(engine: Engine) -> None:
    async with process_of(engine, parts=("ingest",)) as (process, client):
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["ready"] is True
        assert body["checks"]["log_writable"] is True
        assert sample(process, "timeline_log_writable") == 1
    async with process_of(engine, parts=("readers",)) as (process, client):
        body = await (await client.get("/readyz")).json()
        assert "log_writable" not in body["checks"]  # a reader appends nothing
