"""One embedded data folder, several processes: one consumes it, others only append.

A second `timeline up` (or fanout, index) on a folder already consumed is refused in
one line naming the process that consumes it; a `timeline ingest` beside it starts and only
appends (its checks group runs in the consuming process)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.integration.test_embedded_restart import ready, start
from tests.support import free_port

pytestmark = pytest.mark.integration


def env_of(data_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        TIMELINE_BACKEND="embedded",
        TIMELINE_DATA_DIR=str(data_dir),
        TIMELINE_LOG_LEVEL="WARNING",
    )


def run_command(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "timeline", *args]
    return subprocess.run(cmd, env=env_of(data_dir), capture_output=True, text=True, timeout=60)


def start_part(data_dir: Path, part: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "timeline", part, "--port", str(port)]
    return subprocess.Popen(cmd, env=env_of(data_dir))


async def test_a_second_consumer_of_a_folder_is_refused_and_an_appender_may_join(
    tmp_path: Path,
) -> None:
    data, port = tmp_path / "data", free_port()
    first = start(data, port)
    try:
        async with aiohttp.ClientSession() as session:
            await ready(session, f"http://127.0.0.1:{port}")
            second = await asyncio.to_thread(run_command, data, "up", "--port", str(free_port()))
            assert second.returncode == 1
            assert f"already runs in pid {first.pid}: timeline ingest+readers+fanout+index" in (
                second.stderr
            )
            assert "Traceback" not in second.stderr

            ingest_port = free_port()
            appender = start_part(data, "ingest", ingest_port)
            try:
                await ready(session, f"http://127.0.0.1:{ingest_port}")
                async with session.post(
                    f"http://127.0.0.1:{ingest_port}/v1/users", json={"handle": "appender"}
                ) as resp:
                    assert resp.status == 201
            finally:
                appender.terminate()
                appender.wait(timeout=30)
    finally:
        first.terminate()
        first.wait(timeout=30)


async def test_a_request_the_parser_refuses_is_answered_in_the_error_shape(tmp_path: Path) -> None:
    """A raw non-ASCII byte in the query is refused by aiohttp's parser before any
    middleware runs: the served process still answers 400 in JSON, and logs one line."""
    port = free_port()
    proc = start(tmp_path / "data", port)
    try:
        async with aiohttp.ClientSession() as session:
            await ready(session, f"http://127.0.0.1:{port}")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        line = "GET /v1/search/tweets?q=сәлем HTTP/1.1".encode()  # raw UTF-8, not %-encoded
        writer.write(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
        assert b"application/json" in head
        assert json.loads(body)["error"]["code"] == "invalid_request"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
