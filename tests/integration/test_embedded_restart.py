"""`timeline up` on the embedded backend: SIGKILL it under load, start it again, lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support import eventually, free_port

pytestmark = pytest.mark.integration


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        TIMELINE_BACKEND="embedded",
        TIMELINE_DATA_DIR=str(data_dir),
        TIMELINE_RATE_LIMITS="off",
        TIMELINE_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen([sys.executable, "-m", "timeline", "up", "--port", str(port)], env=env)


async def ready(session: aiohttp.ClientSession, url: str) -> None:
    async def probe() -> int:
        try:
            async with session.get(f"{url}/readyz") as resp:
                return resp.status
        except aiohttp.ClientError:
            return 0

    await eventually(probe, lambda status: status == 200, 60)


async def test_sigkill_and_restart_lose_no_acknowledged_tweet(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port)
    acked: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            await ready(session, url)
            async with session.post(f"{url}/v1/users", json={"handle": "survivor"}) as resp:
                author = (await resp.json())["id"]

            async def post(i: int) -> None:
                body = {"author_id": author, "text": f"Сәлем {i}"}
                try:
                    async with session.post(f"{url}/v1/tweets", json=body) as resp:
                        if resp.status == 202:
                            acked.append((await resp.json())["id"])
                except aiohttp.ClientError:
                    pass  # the process died before it answered: not acknowledged

            posts = [asyncio.create_task(post(i)) for i in range(400)]
            await eventually(lambda: asyncio.sleep(0, len(acked)), lambda n: n >= 100, 60)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            await asyncio.gather(*posts)
        assert len(acked) >= 100
        proc = start(tmp_path, port)
        async with aiohttp.ClientSession() as session:
            await ready(session, url)

            async def stored() -> set[str]:
                ids: set[str] = set()
                params = {"count": "200"}
                while True:
                    async with session.get(
                        f"{url}/v1/users/{author}/tweets", params=params
                    ) as resp:
                        page = await resp.json()
                    ids |= {t["id"] for t in page["tweets"]}
                    if "next_max_id" not in page:
                        return ids
                    params["max_id"] = page["next_max_id"]

            found = await eventually(stored, lambda ids: set(acked) <= ids, 60)
        print(
            f"\nEMBEDDED sigkill: acked={len(acked)} found_after_restart={len(set(acked) & found)}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
