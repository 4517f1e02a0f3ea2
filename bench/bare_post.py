"""The bare single-post handler: the least a server can do for `POST /v1/tweets`.

An aiohttp server whose handler parses the same JSON body as the engine's `POST /v1/tweets`
(`{"author_id": "...", "text": "..."}`), appends it with aiokafka (acks=all, idempotent, the
engine's linger, keyed by the author) with `send_and_wait`, and answers 202 once Kafka has
acknowledged it; 400 for a body without both fields. No ids, no user check, no validation
beyond that: the baseline the engine's single post is compared with, run as a process of its
own so its CPU is read apart.

    python -m bench.bare_post --port 8090 --bootstrap 127.0.0.1:9092 --topic t --linger-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer

from bench.config import REPO_ROOT
from bench.stack import _die_with_parent, free_port

ACCEPTED = b'{"status":"accepted"}'


def app(producer: AIOKafkaProducer, topic: str) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        try:
            doc = json.loads(await request.read())
            author, text = doc["author_id"], doc["text"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        if not isinstance(author, str) or not isinstance(text, str):
            return web.Response(status=400)
        value = json.dumps({"author_id": author, "text": text}, ensure_ascii=False).encode()
        await producer.send_and_wait(topic, value, key=author.encode())
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_post("/v1/tweets", post)
    application.router.add_get("/readyz", ready)

    async def kafka(_: web.Application) -> AsyncIterator[None]:
        await producer.start()
        yield
        await producer.stop()

    application.cleanup_ctx.append(kafka)
    return application


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bare_post", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--linger-ms", type=int, default=5)
    args = p.parse_args(argv)

    async def serve() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=args.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=args.linger_ms,
        )
        runner = web.AppRunner(app(producer, args.topic), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())


class BarePostProcess:
    """`python -m bench.bare_post` as a child process, ready when /readyz answers."""

    def __init__(self, bootstrap: str, topic: str, linger_ms: int, log_path: Path) -> None:
        self.bootstrap, self.topic, self.linger_ms = bootstrap, topic, linger_ms
        self.log_path = log_path
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout_s: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bare_post", "--port", str(self.port),
            "--bootstrap", self.bootstrap, "--topic", self.topic,
            "--linger-ms", str(self.linger_ms),
            cwd=REPO_ROOT, env=dict(os.environ), stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"bare post handler exited; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"bare post handler not ready in {timeout_s}s; see {self.log_path}")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


if __name__ == "__main__":
    main()
