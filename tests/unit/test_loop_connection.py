"""The loop-served driver connection (engine/adapters/cassandra/loop_connection.py) against a
server that is not Cassandra: what it does when the other end goes away."""

from __future__ import annotations

import asyncio

import pytest

from engine.adapters.cassandra.loop_connection import LoopConnection

pytestmark = pytest.mark.unit


async def _server(
    reply: bytes, release: asyncio.Event | None = None
) -> tuple[asyncio.Server, int, asyncio.Event]:
    """A server that reads the driver's first request, waits for `release` (when given),
    writes `reply` and hangs up."""
    answered = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)
        if release is not None:
            await release.wait()
        writer.write(reply)
        await writer.drain()
        writer.close()
        answered.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], answered


async def _connection(port: int) -> LoopConnection:
    cls = LoopConnection.bound_to(asyncio.get_running_loop())
    return await asyncio.to_thread(cls, "127.0.0.1", port=port, protocol_version=5)


@pytest.mark.parametrize("reply", [b"", b"\x85\x00"], ids=["nothing", "half a header"])
async def test_a_connection_the_server_closes_is_closed_without_spinning(reply: bytes) -> None:
    release = asyncio.Event()  # the server answers once the reader below is in place
    server, port, answered = await _server(reply, release)
    async with server:
        conn = await _connection(port)
        reads = 0
        readable = conn._readable

        def counted() -> None:
            nonlocal reads
            reads += 1
            readable()

        loop = asyncio.get_running_loop()
        loop.remove_reader(conn._fd)
        loop.add_reader(conn._fd, counted)
        release.set()
        await answered.wait()
        for _ in range(100):
            if conn.is_closed:
                break
            await asyncio.sleep(0.01)
        assert conn.is_closed
        assert conn.connected_event.is_set()  # nothing waits on for a connection that ended
        assert reads <= 3  # the end of the stream is read once, not polled in a loop


async def test_a_connection_closed_from_another_thread_lets_go_of_its_socket() -> None:
    server, port, _ = await _server(b"")
    async with server:
        conn = await _connection(port)
        await asyncio.to_thread(conn.close)
        await asyncio.sleep(0.05)
        assert conn._socket.fileno() == -1
