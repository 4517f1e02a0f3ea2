"""Live streams (Server-Sent Events): home timelines and hashtags as the projections write."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from engine.config import Settings
from tests.support import Api, eventually
from timeline.app import Engine

Event = dict[str, Any]


class Stream:
    """An SSE response read event by event (comments skipped)."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response

    async def next(self, timeout_s: float = 20.0) -> Event:
        fields: Event = {}
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise AssertionError(f"the stream ended; got so far {fields}")
                line = line.rstrip("\n")
                if not line:
                    if "data" in fields:  # a block without data (retry:) dispatches nothing
                        return fields
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = json.loads(value) if name == "data" else value

    async def tweets(self, n: int) -> list[Event]:
        return [await self.next() for _ in range(n)]

    def close(self) -> None:
        self.response.close()


async def open_stream(client: TestClient, path: str, last_id: str | None = None) -> Stream:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return Stream(response)


async def following(api: Api, follower: dict, followee: dict) -> None:
    """Follow, and wait until fan-out wrote the edge."""
    await api.follow(follower, followee)
    await eventually(
        lambda: api.ids(f"/v1/users/{follower['id']}/following", "users"),
        lambda ids: followee["id"] in ids,
    )


def tag(base: str) -> str:
    return f"{base}{uuid.uuid4().hex[:6]}"


async def test_a_home_stream_gets_a_followed_authors_tweet_and_its_delete(api: Api) -> None:
    reader, author, stranger = await api.user(), await api.user(), await api.user()
    await following(api, reader, author)
    stream = await open_stream(api.client, f"/v1/users/{reader['id']}/home_timeline/stream")
    try:
        await api.tweet(stranger, "Сәлем, not followed")
        posted = await api.tweet(author, f"Сәлем, әлем! #{tag('қазақ')}")
        event = await stream.next()
        assert event["event"] == "tweet" and event["id"] == posted["id"]
        assert event["data"] == posted
        await api.call("DELETE", f"/v1/tweets/{posted['id']}", 202)
        deleted = await stream.next()
        assert deleted["event"] == "delete" and deleted["data"] == {"id": posted["id"]}
        assert "id" not in deleted  # Last-Event-ID stays on the last tweet
        own = await api.tweet(reader, "my own tweet")
        assert (await stream.next())["id"] == own["id"]
    finally:
        stream.close()


async def test_a_home_stream_follows_the_graph_as_it_changes(api: Api) -> None:
    reader, author = await api.user(), await api.user()
    stream = await open_stream(api.client, f"/v1/users/{reader['id']}/home_timeline/stream")
    try:
        await api.tweet(author, "before the follow")
        await following(api, reader, author)
        after = await api.tweet(author, "after the follow")
        assert (await stream.next())["id"] == after["id"]
    finally:
        stream.close()


async def test_a_hashtag_stream_gets_tagged_tweets_and_no_others(api: Api) -> None:
    author = await api.user()
    ka, kz = tag("ტვიტერი"), tag("Твиттер")
    stream = await open_stream(api.client, f"/v1/hashtags/{ka}/stream")
    try:
        await api.tweet(author, f"#{kz} only")
        await api.tweet(author, "no tag at all")
        first = await api.tweet(author, f"გამარჯობა #{ka}")
        await api.tweet(author, f"#{kz.upper()} again")
        second = await api.tweet(author, f"#{ka} and #{kz}")
        got = await stream.tweets(2)
        assert [e["id"] for e in got] == [first["id"], second["id"]]
        assert got[0]["data"]["entities"]["hashtags"] == [ka]
    finally:
        stream.close()
    kz_stream = await open_stream(api.client, f"/v1/hashtags/%23{kz.upper()}/stream")
    try:
        third = await api.tweet(author, f"#{kz.lower()} Сәлем")
        assert (await kz_stream.next())["id"] == third["id"]
    finally:
        kz_stream.close()


async def test_reconnecting_with_last_event_id_loses_nothing_and_repeats_nothing(
    api: Api,
) -> None:
    reader, author, other = await api.user(), await api.user(), await api.user()
    await following(api, reader, author)
    await following(api, reader, other)
    path = f"/v1/users/{reader['id']}/home_timeline/stream"
    stream = await open_stream(api.client, path)
    seen = [(await api.tweet(author, "one")), (await api.tweet(other, "two"))]
    got = await stream.tweets(2)
    stream.close()
    assert [e["id"] for e in got] == [t["id"] for t in seen]
    missed = [await api.tweet(a, f"missed {i}") for i, a in enumerate([author, other] * 3)]
    written = {t["id"] for t in seen + missed[:4]}  # these written; the rest may not be yet
    await eventually(lambda: api.home_ids(reader), lambda ids: written <= set(ids))
    again = await open_stream(api.client, path, last_id=got[-1]["id"])
    try:
        live = await api.tweet(other, "live after the reconnect")
        events = await again.tweets(len(missed) + 1)
        assert [e["id"] for e in events] == [t["id"] for t in [*missed, live]]
        marker = await api.tweet(author, "nothing repeated before me")
        assert (await again.next())["id"] == marker["id"]
    finally:
        again.close()


async def test_stream_refusals(api: Api) -> None:
    missing = await api.call("GET", "/v1/users/12345/home_timeline/stream", 404)
    assert missing["error"]["code"] == "user_not_found"
    bad = await api.call("GET", "/v1/users/abc/home_timeline/stream", 400)
    assert bad["error"]["code"] == "invalid_id"
    user = await api.user()
    bad_resume = await api.call(
        "GET",
        f"/v1/users/{user['id']}/home_timeline/stream",
        400,
        headers={"Last-Event-ID": "not-an-id"},
    )
    assert bad_resume["error"]["code"] == "invalid_id"
    long_tag = await api.call("GET", f"/v1/hashtags/{'x' * 141}/stream", 400)
    assert long_tag["error"]["code"] == "invalid_hashtag"


@contextlib.asynccontextmanager
async def readers_alone(settings: Settings, **changes: Any) -> AsyncIterator[TestClient]:
    """A `timeline readers` of its own on the same backend, learning only from the log."""
    engine = Engine(dataclasses.replace(settings, **changes), parts=("readers",))
    await engine.start()
    assert engine.app is not None
    client = TestClient(TestServer(engine.app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await engine.stop()


@pytest_asyncio.fixture(scope="module")
async def small_readers(settings: Settings) -> AsyncIterator[TestClient]:
    """A readers process with tiny stream buffers and frequent heartbeats."""
    async with readers_alone(
        settings,
        stream_queue_max=50,
        stream_write_timeout_s=1.0,
        stream_send_buffer_bytes=4096,
        stream_heartbeat_s=0.3,
    ) as client:
        yield client


async def test_idle_streams_get_heartbeats(api: Api, small_readers: TestClient) -> None:
    ka = tag("ტვიტერი")
    stream = await open_stream(small_readers, f"/v1/hashtags/{ka}/stream")
    try:
        lines = []
        async with asyncio.timeout(5):
            while lines.count(b": keep-alive\n") < 2:
                lines.append(await stream.response.content.readline())
        posted = await api.tweet(await api.user(), f"#{ka}")
        assert (await stream.next())["id"] == posted["id"]  # heard from another process's log
    finally:
        stream.close()


async def test_a_graceful_shutdown_ends_every_stream(api: Api, settings: Settings) -> None:
    reader = await api.user()
    async with readers_alone(settings) as client:
        home = await open_stream(client, f"/v1/users/{reader['id']}/home_timeline/stream")
        ka = await open_stream(client, f"/v1/hashtags/{tag('ტვიტერი')}/stream")
        async with asyncio.timeout(10):
            await client.server.close()  # the server stops: on_shutdown ends the streams first
        for stream in (home, ka):
            event = await stream.next(timeout_s=5)
            assert event["event"] == "error" and event["data"]["code"] == "shutting_down"
            assert await stream.response.content.read() == b""


async def stalled_stream(client: TestClient, path: str) -> socket.socket:
    """A stream whose client reads the headers, then nothing (small receive buffer)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (client.server.host, client.server.port))
    request = f"GET {path} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n"  # not chunked
    await loop.sock_sendall(sock, request.encode())
    head = b""
    async with asyncio.timeout(20):
        while b": stream open" not in head:
            head += await loop.sock_recv(sock, 1024)
    assert head.split(b"\r\n", 1)[0].endswith(b" 200 OK"), head
    return sock


async def read_to_end(sock: socket.socket, timeout_s: float = 20.0) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout_s):
        while chunk := await loop.sock_recv(sock, 65536):
            data += chunk
    return data


async def cutoffs(client: TestClient) -> float:
    text = await (await client.get("/metrics")).text()
    line = r'^timeline_stream_cutoffs_total\{reason="slow_consumer"\} (\S+)$'
    found = re.search(line, text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_client_that_stops_reading_is_cut_off_and_told_so(
    api: Api, small_readers: TestClient
) -> None:
    reader = await api.user()
    authors = [await api.user() for _ in range(10)]
    for author in authors:
        await following(api, reader, author)
    path = f"/v1/users/{reader['id']}/home_timeline/stream"
    before = await cutoffs(small_readers)
    stalled = await stalled_stream(small_readers, path)
    keeping_up = await open_stream(small_readers, path)
    text = "Сәлем, әлем! " * 10
    posted: list[str] = []
    try:
        for batch in range(3):
            body = {"tweets": [{"author_id": a["id"], "text": f"{batch} {text}"} for a in authors]}
            answer = await api.call("POST", "/v1/tweets/batch", 202, json=body)
            posted += [t["id"] for t in answer["results"]]
            got = await keeping_up.tweets(len(authors))
            assert sorted(e["id"] for e in got) == sorted(posted[-len(authors) :])
        for batch in range(3, 30):
            body = {"tweets": [{"author_id": a["id"], "text": f"{batch} {text}"} for a in authors]}
            await api.call("POST", "/v1/tweets/batch", 202, json=body)
            await keeping_up.tweets(len(authors))
        await eventually(lambda: cutoffs(small_readers), lambda n: n > before)
        rest = await read_to_end(stalled)
    finally:
        stalled.close()
        keeping_up.close()
    assert rest.rstrip().endswith(b"}"), rest[-300:]
    last = rest.rstrip().rsplit(b"\n\n", 1)[-1].decode()
    assert last.startswith("event: error\ndata: "), last
    assert json.loads(last.split("data: ", 1)[1])["code"] == "slow_consumer"
