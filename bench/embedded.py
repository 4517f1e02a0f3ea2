"""Single-process throughput of the engine on the embedded backend, through its HTTP API.

Starts `timeline up` (embedded, a fresh data folder, rate limits off) as a child process,
registers users and a follow graph, then for a fixed time posts tweets from many concurrent
clients, then reads home timelines the same way. Prints requests per second and latency
percentiles, and writes them as JSON.

    python -m bench.embedded [--seconds 20] [--clients 64] [--users 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.tweet_texts import corpus_texts


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(
    session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180
) -> None:
    """Wait for the engine process to answer /readyz (a fresh keyspace takes a while to
    migrate); fail if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            async with session.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {timeout_s:.0f} s")


async def setup(session: aiohttp.ClientSession, url: str, users: int) -> list[str]:
    ids = []
    for i in range(users):
        async with session.post(f"{url}/v1/users", json={"handle": f"bench{i}"}) as resp:
            ids.append((await resp.json())["id"])
    rng = random.Random(7)
    follows = [(a, b) for a in ids for b in rng.sample(ids, 20) if a != b]
    sem = asyncio.Semaphore(64)

    async def follow(a: str, b: str) -> None:
        async with sem, session.put(f"{url}/v1/users/{a}/following/{b}") as resp:
            assert resp.status == 200

    await asyncio.gather(*(follow(a, b) for a, b in follows))
    return ids


async def drive(clients: int, seconds: float, request: Any) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            ok = await request(i)
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1
            i += clients

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_s": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
    }


def start_engine(
    data: str, port: int, command: str = "up", **settings: str
) -> subprocess.Popen[bytes]:
    """`timeline <command>` on the embedded backend in a folder, with rate limits off and the
    other TIMELINE_* settings given (by name without the prefix)."""
    env = dict(
        os.environ,
        TIMELINE_BACKEND="embedded",
        TIMELINE_DATA_DIR=data,
        TIMELINE_RATE_LIMITS="off",
        TIMELINE_LOG_LEVEL="WARNING",
        **{f"TIMELINE_{name.upper()}": value for name, value in settings.items()},
    )
    cmd = [sys.executable, "-m", "timeline", command, "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


Request = Callable[[int], Awaitable[bool]]


def requests_of(
    session: aiohttp.ClientSession, url: str, ids: list[str], texts: Sequence[str]
) -> tuple[Request, Request]:
    """The i-th single post and the i-th home page read, each True when it succeeded."""

    async def post(i: int) -> bool:
        body = {"author_id": ids[i % len(ids)], "text": texts[i % len(texts)]}
        async with session.post(f"{url}/v1/tweets", json=body) as resp:
            await resp.read()
            return resp.status == 202

    async def read(i: int) -> bool:
        async with session.get(f"{url}/v1/users/{ids[i % len(ids)]}/home_timeline") as r:
            await r.read()
            return r.status == 200

    return post, read


async def run(seconds: float, clients: int, users: int) -> dict[str, Any]:
    port = free_port()
    proc = start_engine(tempfile.mkdtemp(prefix="timeline-bench-"), port)
    url = f"http://127.0.0.1:{port}"
    texts = corpus_texts()
    try:
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_ready(session, url, proc, timeout_s=30)
            ids = await setup(session, url, users)

            post, read = requests_of(session, url, ids, texts)
            posting = await drive(clients, seconds, post)
            await asyncio.sleep(2)  # let fan-out catch up before reading
            reading = await drive(clients, seconds, read)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {
        "backend": "embedded",
        "clients": clients,
        "seconds": seconds,
        "users": users,
        "mean_fanout": 20,
        "post": posting,
        "home_timeline_read": reading,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds, args.clients, args.users))
    for name in ("post", "home_timeline_read"):
        r = result[name]
        print(
            f"{name:20s} {r['per_s']:8.0f}/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
