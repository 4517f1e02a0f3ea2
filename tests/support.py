"""Helpers the test tiers share: an HTTP client of the API and polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient, TestServer

from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend
from fanout.audience import FollowerIndex
from fanout.posts import PostFanout

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_handle(prefix: str = "u") -> str:
    """A handle no other test uses: 15 characters at most."""
    return f"{prefix[:4]}{uuid.uuid4().hex[:10]}"


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout_s: float = 15.0,
    explain: Callable[[], str] = lambda: "",
    every_s: float = 0.05,
) -> T:
    """Poll probe() until accept(result); fail with the last result (and explain()) after
    timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if accept(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {timeout_s}s; last: {result!r}\n{explain()}"
            )
        await asyncio.sleep(every_s)


async def settled(engine: Any, quiet_s: float = 0.3, timeout_s: float = 20.0) -> None:
    """Wait until every consumer of the engine has polled nothing for quiet_s, from now on."""
    start = time.monotonic()

    async def quiet() -> bool:
        now = time.monotonic()
        return all(
            w.idle_since is not None and now - max(w.idle_since, start) > quiet_s
            for w in engine.workers
        )

    await eventually(quiet, bool, timeout_s)


class Api:
    """The engine's HTTP API as a test sees it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def call(
        self, method: str, path: str, expect: int, *, raise_for: bool = True, **kw: Any
    ) -> Any:
        """Call the API; assert the status (or, with raise_for=False, return {} on another)."""
        resp = await self.client.request(method, path, **kw)
        body = await resp.json()
        if not raise_for and resp.status != expect:
            return {}
        assert resp.status == expect, (method, path, resp.status, body)
        return body

    async def user(self, handle: str | None = None) -> dict[str, Any]:
        handle = handle or unique_handle()
        return await self.call(
            "POST", "/v1/users", 201, json={"handle": handle, "display_name": handle.title()}
        )

    async def follow(self, follower: dict[str, Any], followee: dict[str, Any]) -> None:
        await self.call("PUT", f"/v1/users/{follower['id']}/following/{followee['id']}", 200)

    async def unfollow(self, follower: dict[str, Any], followee: dict[str, Any]) -> None:
        await self.call("DELETE", f"/v1/users/{follower['id']}/following/{followee['id']}", 200)

    async def tweet(self, author: dict[str, Any], text: str) -> dict[str, Any]:
        return await self.call(
            "POST", "/v1/tweets", 202, json={"author_id": author["id"], "text": text}
        )

    async def home(self, user: dict[str, Any], **params: Any) -> dict[str, Any]:
        return await self.call(
            "GET",
            f"/v1/users/{user['id']}/home_timeline",
            200,
            params={k: str(v) for k, v in params.items()},
        )

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, 200, params={k: str(v) for k, v in params.items()})

    async def ids(self, path: str, key: str = "tweets") -> list[str]:
        return [item["id"] for item in (await self.get(path, count=200))[key]]

    async def wait_ids(self, path: str, ids: list[str], key: str = "tweets") -> list[str]:
        """Wait until a page at path holds exactly these ids, newest first."""
        want = sorted(ids, key=int, reverse=True)
        return await eventually(lambda: self.ids(path, key), lambda got: got == want)

    async def home_ids(self, user: dict[str, Any], count: int = 200) -> list[str]:
        return [t["id"] for t in (await self.home(user, count=count))["tweets"]]

    async def wait_home(
        self, user: dict[str, Any], ids: list[str], timeout_s: float = 15.0
    ) -> list[str]:
        """Wait until the home timeline holds exactly these ids, newest first."""
        want = sorted(ids, key=int, reverse=True)
        return await eventually(lambda: self.home_ids(user), lambda got: got == want, timeout_s)


async def table_rows(engine: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on the engine's store, Cassandra or embedded, for checking tests."""
    backend = engine.backend
    if engine.settings.backend == "kafka-cassandra":
        return [tuple(r) for r in await backend.cql.run(sql, params)]
    return [
        tuple(r)
        for r in await backend.store_db.read("test", lambda c: c.execute(sql, params).fetchall())
    ]


async def append_raw(engine: Any, topic: str, value: bytes, key: int | None = None) -> None:
    """Put bytes in the log as they are, bypassing the engine's encoding (a poison record);
    with a key, in the partition an event with that key goes to."""
    settings = engine.settings
    if settings.backend == "embedded":
        from engine.adapters.embedded.log import partition_for

        log = engine.backend.log
        partition = 0 if key is None else partition_for(key, log.partitions[topic])
        await log._write([(topic, partition, value)])
        return
    from aiokafka import AIOKafkaProducer

    from engine.adapters.kafka import key_bytes

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.kafka_topic_prefix + topic,
            value,
            key=None if key is None else key_bytes(key),
        )
    finally:
        await producer.stop()


async def raw_request(
    client: TestClient | TestServer, head: bytes, body: bytes = b"", *, hang_up: bool = False
) -> tuple[int, dict[str, Any]]:
    """Send a request line and headers (one a line, as bytes a client library would refuse)
    and a body to a test server, and read (status, JSON body); with hang_up, close the
    connection after sending instead."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        lines = [*head.strip().split(b"\n"), b"Connection: close", b"", b""]
        writer.write(b"\r\n".join(lines) + body)
        await writer.drain()
        if hang_up:
            return 0, {}
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(payload) if payload else {}


@contextlib.asynccontextmanager
async def post_fanout(
    settings: Settings, backend: Backend, metrics: Metrics
) -> AsyncIterator[PostFanout]:
    """A tweet fan-out of its own, whose follower index starts from the graph as it is now."""
    index = FollowerIndex(backend)
    await index.open(f"test-{uuid.uuid4().hex}")
    try:
        yield PostFanout(settings, backend, metrics, index)
    finally:
        await index.stop()
