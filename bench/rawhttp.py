"""A minimal HTTP/1.1 client for load generation: pre-encoded requests, keep-alive connections.

An open-loop generator must cost much less per request than the server it loads, or it
measures itself. aiohttp's client spends about as much per request as aiohttp's server; this
one writes pre-encoded bytes and reads only the status line and Content-Length, several times
cheaper. It speaks just enough HTTP for the engine's answers (Content-Length bodies).
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

CRLF2 = b"\r\n\r\n"


def encode_request(method: str, path: str, host: str, body: dict[str, Any] | None = None) -> bytes:
    """A request with its headers, ready to write."""
    payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def _content_length(head: bytes) -> int:
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    stop = head.find(b"\r\n", at)
    return int(head[at + 15 : stop if stop >= 0 else len(head)])


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(CRLF2)
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = _content_length(head)
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        del self.buffer[:total]
        if b"connection: close" in head:
            self.closed = True
        self.waiter = None
        waiter.set_result(int(head[9:12]))

    async def send(self, request: bytes) -> int:
        """Write the request; its status code."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class Pool:
    """Up to `size` connections to host:port; a request waits for a free one."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: collections.deque[Connection] = collections.deque()
        self.opened = 0
        self.waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()

    async def send(self, request: bytes, timeout_s: float) -> int:
        """The status of one request (-1 for a connection error or a timeout)."""
        try:
            conn = await self._take()
        except OSError:
            return -1
        try:
            async with asyncio.timeout(timeout_s):
                status = await conn.send(request)
        except (ConnectionError, OSError, TimeoutError):
            self._drop(conn)
            return -1
        self._give(conn)
        return status

    async def _take(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.opened -= 1
        if self.opened < self.size:
            self.opened += 1
            try:
                _, conn = await asyncio.get_running_loop().create_connection(
                    Connection, self.host, self.port
                )
            except OSError:
                self.opened -= 1
                raise
            return conn
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        handed = await waiter
        return handed if handed is not None else await self._take()

    def _give(self, conn: Connection) -> None:
        if conn.closed:
            self._drop(conn)
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def _drop(self, conn: Connection) -> None:
        if conn.transport is not None:
            conn.transport.abort()
        self.opened -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # it may open a connection in this one's place
                return

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


async def closed_loop(
    pool: Pool, requests: list[bytes], count: int, clients: int, timeout_s: float = 10.0
) -> dict[str, Any]:
    """`count` requests from `clients` clients, each sending its next one when answered
    (request i is requests[i % len(requests)]): answers by status, seconds, rate of 2xx."""
    loop = asyncio.get_running_loop()
    statuses: collections.Counter[int] = collections.Counter()
    next_i = 0

    async def client() -> None:
        nonlocal next_i
        while next_i < count:
            i, next_i = next_i, next_i + 1
            statuses[await pool.send(requests[i % len(requests)], timeout_s)] += 1

    started = loop.time()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = loop.time() - started
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "requests": count,
        "clients": clients,
        "ok": ok,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "seconds": round(seconds, 3),
        "ok_s": round(ok / seconds, 1) if seconds > 0 else None,
    }
