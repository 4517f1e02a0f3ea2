"""CPU per single post and per batched tweet: `timeline ingest` against bare clients.

`python -m bench.post_cost` runs, on the local Kafka and Cassandra, in a topic prefix and
keyspace of its own (dropped at the end):

1. single posts: `POST /v1/tweets` from registered users, closed loop at `--connections`
   connections, first to a `timeline ingest` process, then to a bare aiohttp handler in a
   process of its own that parses the same JSON and appends it with aiokafka (acks=all,
   idempotent, send_and_wait) before answering 202;
2. batch ingest: `POST /v1/tweets/batch` (bench/ingest.py) against the raw aiokafka producer
   of bench/baselines.py, records of an encoded tweet's size.

For each it prints the rate, and the CPU microseconds per post (or record) of the server
process, of the Kafka JVM and of Cassandra, read from /proc over the measured window; the
load generator is not counted (for the raw producer the generator is the producer, so it is).
Kafka and Cassandra are shared with whatever else runs on the machine: run it twice and
trust figures that agree. `--profile SECONDS` records py-spy on the ingest process during
the single posts (flame graph in /tmp/post_cost_ingest.svg).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web
from aiokafka import AIOKafkaProducer

from bench import baselines, ingest, profiler
from bench.config import REPO_ROOT, scale_from_env
from bench.cpu import process_cpu_s
from bench.rawhttp import Pool, encode_request
from bench.stack import (
    EngineProcess,
    bench_settings,
    free_port,
    new_run_id,
    producer,
    settings_env,
)
from bench.tweet_texts import corpus_texts
from deploy.local import infra
from deploy.local.cleanup import drop_run
from engine.config import Settings

BARE_TOPIC = "bare-posts"
WORK = Path("/tmp/post_cost")
TIMEOUT_S = 30.0


@dataclasses.dataclass
class Cost:
    """Units done in a window and the CPU each watched process spent on them."""

    units: int
    seconds: float
    cpu_s: dict[str, float]

    def row(self, name: str, unit: str) -> dict[str, Any]:
        per = {k: v / max(self.units, 1) * 1e6 for k, v in self.cpu_s.items()}
        return {
            "what": name,
            f"{unit}_s": round(self.units / self.seconds, 1),
            **{f"{k}_us": round(v, 1) for k, v in per.items()},
            "total_us": round(per["server"] + per["kafka"], 1),
        }


@contextlib.asynccontextmanager
async def metered(pids: dict[str, int | None]) -> AsyncIterator[dict[str, float]]:
    """CPU seconds per named process while the block runs (filled in when it ends)."""
    spent: dict[str, float] = {}
    before = {k: process_cpu_s(p) if p else None for k, p in pids.items()}
    yield spent
    for k, p in pids.items():
        start, end = before[k], process_cpu_s(p) if p else None
        spent[k] = (end - start) if start is not None and end is not None else 0.0


def post_requests(user_ids: list[int], count: int) -> list[bytes]:
    """Pre-encoded single posts, authors in turn, seed texts."""
    texts = corpus_texts()
    return [
        encode_request(
            "POST",
            "/v1/tweets",
            "bench",
            {"author_id": str(user_ids[i % len(user_ids)]), "text": texts[i % len(texts)]},
        )
        for i in range(count)
    ]


async def drive(port: int, requests: list[bytes], connections: int) -> tuple[int, dict[int, int]]:
    """Send every request, `connections` at a time; (202s, count by other status)."""
    pool = Pool("127.0.0.1", port, connections)
    statuses: dict[int, int] = {}
    it = iter(requests)

    async def worker() -> None:
        for request in it:
            status = await pool.send(request, TIMEOUT_S)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        await asyncio.gather(*(worker() for _ in range(connections)))
    finally:
        pool.close()
    return statuses.pop(202, 0), statuses


async def measure_posts(
    port: int, pids: dict[str, int | None], requests: list[bytes], connections: int
) -> Cost:
    started = time.perf_counter()
    async with metered(pids) as spent:
        ok, other = await drive(port, requests, connections)
    seconds = time.perf_counter() - started
    if other:
        print(f"   not 202: {other}", flush=True)
    return Cost(ok, seconds, spent)


async def register_users(port: int, count: int, tag: str) -> list[int]:
    """Users created through `POST /v1/users`, a few at a time; their ids."""
    gate = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:

        async def one(i: int) -> int:
            body = {"handle": f"pc{tag[:6]}{i}", "display_name": f"post cost {i}"}
            for _ in range(20):
                async with gate, http.post("/v1/users", json=body) as r:
                    if r.status == 201:
                        return int((await r.json())["id"])
                    if r.status != 503:
                        raise RuntimeError(f"registering a user: {r.status} {await r.text()}")
                await asyncio.sleep(0.5)
            raise RuntimeError("registering a user: 503 twenty times")

        return list(await asyncio.gather(*(one(i) for i in range(count))))


# The bare handler: what a single post costs with nothing but aiohttp and aiokafka.


def bare_app(settings: Settings, topic: str) -> web.Application:
    """Parse the JSON, append it (acks=all, idempotent, send_and_wait), answer 202."""
    kafka: list[AIOKafkaProducer] = []

    async def post(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        author = int(data["author_id"])
        value = json.dumps(data).encode()
        await kafka[0].send_and_wait(topic, value, key=author.to_bytes(8, "big"))
        return web.json_response({"author_id": str(author), "text": data["text"]}, status=202)

    async def started(app: web.Application) -> None:
        kafka.append(producer(settings))  # aiokafka wants a running loop
        await kafka[0].start()

    async def stopped(app: web.Application) -> None:
        await kafka[0].stop()

    app = web.Application()
    app.router.add_post("/v1/tweets", post)
    app.on_startup.append(started)
    app.on_cleanup.append(stopped)
    return app


def serve_bare(port: int, topic: str) -> None:
    """Run the bare handler (settings from TIMELINE_* variables) until killed."""
    settings = Settings.from_env(os.environ)
    web.run_app(bare_app(settings, topic), host="127.0.0.1", port=port, print=None)


async def start_bare(settings: Settings, topic: str) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {**os.environ, **settings_env(settings)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.post_cost", "--serve-bare", str(port), "--topic", topic,
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc, port
        await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bare handler did not start")


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# The run.


async def single_posts(
    settings: Settings, args: argparse.Namespace, servers: dict[str, int | None]
) -> list[dict[str, Any]]:
    rows = []
    engine = EngineProcess("ingest", settings, WORK / "ingest.log")
    await engine.start()
    try:
        users = await register_users(engine.port, args.users, settings.kafka_topic_prefix[6:])
        requests = post_requests(users, args.posts)
        await drive(engine.port, requests[: len(requests) // 10], args.connections)  # warm
        profiling = asyncio.create_task(py_spy(engine.pid, args.profile, "posts"))
        before = await engine.metrics()
        cost = await measure_posts(
            engine.port, {"server": engine.pid, **servers}, requests, args.connections
        )
        await profiling
        rows.append(cost.row("timeline ingest", "posts"))
        spent = requests_per(before, await engine.metrics(), cost.units)
        print(f"   Cassandra requests per post: {spent}", flush=True)
        print(f"   {rows[-1]}", flush=True)
    finally:
        await engine.stop()
    topic = settings.kafka_topic_prefix + BARE_TOPIC
    await baselines.create_topic(settings, topic)
    bare, port = await start_bare(settings, topic)
    try:
        cost = await measure_posts(
            port, {"server": bare.pid, **servers}, requests, args.connections
        )
        rows.append(cost.row("bare aiohttp+aiokafka", "posts"))
    finally:
        await stop_process(bare)
    return rows


async def batches(
    settings: Settings, args: argparse.Namespace, servers: dict[str, int | None]
) -> list[dict[str, Any]]:
    rows = []
    own = dataclasses.replace(settings, kafka_topic_prefix=settings.kafka_topic_prefix + "batch.")
    engine = EngineProcess("ingest", own, WORK / "ingest_batch.log")
    await engine.start()
    try:
        users = np.array(
            await register_users(engine.port, args.users, "b" + own.kafka_topic_prefix[6:])
        )
        await ingest.batch_ingest(engine.url, users, 16_000)  # warm: caches, connections
        profiling = asyncio.create_task(py_spy(engine.pid, args.profile, "batch"))
        async with metered({"server": engine.pid, **servers}) as spent:
            result = await ingest.batch_ingest(engine.url, users, args.records)
        await profiling
        if result["refused"]:
            errors = {
                dict(labels).get("reason", name): v
                for (name, labels), v in (await engine.metrics()).items()
                if name == "timeline_append_errors_total"
            }
            print(f"   refused: {result['refused']}, append errors: {errors}", flush=True)
        print(f"   batch latency (ms): {result['batch_latency']}", flush=True)
        rows.append(
            Cost(result["accepted"], result["seconds"], spent).row("batch ingest", "records")
        )
    finally:
        await engine.stop()
    async with metered({"server": os.getpid(), **servers}) as spent:
        raw = await baselines.raw_aiokafka(settings, args.records)
    rows.append(Cost(raw["records"], raw["seconds"], spent).row("raw aiokafka", "records"))
    return rows


def requests_per(before: dict[Any, float], after: dict[Any, float], units: int) -> dict[str, float]:
    """Cassandra requests per unit between two scrapes of the engine's metrics, by operation."""
    out: dict[str, float] = {}
    for (name, labels), value in after.items():
        if name == "timeline_cassandra_requests_total":
            op = dict(labels).get("op", "?")
            spent = value - before.get((name, labels), 0.0)
            if spent:
                out[op] = round(out.get(op, 0.0) + spent / max(units, 1), 4)
    return out


async def py_spy(pid: int, seconds: float, name: str) -> None:
    """py-spy on the ingest process for `seconds` (none: nothing); its top frames."""
    if seconds <= 0:
        return
    out = WORK / f"ingest_{name}.txt"
    summary = await profiler.record(pid, seconds, out)
    if "error" in summary:
        print(f"   profile: {summary['error']}", flush=True)
        return
    for key in ("own_time", "total_time_project"):
        print(f"   {key}:", flush=True)
        for share, frame in summary.get(key, [])[:25]:
            print(f"     {share:5.1f}%  {frame}", flush=True)
    print(f"   raw stacks: {out}", flush=True)


def show(rows: list[dict[str, Any]], unit: str) -> None:
    cols = ["what", f"{unit}_s", "server_us", "kafka_us", "total_us", "cassandra_us"]
    print("   " + "  ".join(f"{c:>22}" if i == 0 else f"{c:>12}" for i, c in enumerate(cols)))
    for r in rows:
        print(
            "   "
            + "  ".join(f"{r[c]!s:>22}" if i == 0 else f"{r[c]!s:>12}" for i, c in enumerate(cols))
        )
    engine, bare = rows
    if unit == "posts":
        print(f"   CPU per post engine/bare: {engine['total_us'] / bare['total_us']:.2f}x "
              f"(goal <= 1.5x)", flush=True)  # fmt: skip
    else:
        print(f"   records/s batch/raw: {engine['records_s'] / bare['records_s']:.3f}x "
              f"(goal >= 0.6x)", flush=True)  # fmt: skip


async def main_async(args: argparse.Namespace) -> None:
    await asyncio.to_thread(WORK.mkdir, parents=True, exist_ok=True)
    settings = bench_settings(new_run_id(), scale_from_env(name="small"))
    servers = {"kafka": infra.server_pid("kafka"), "cassandra": infra.server_pid("cassandra")}
    print(f"post_cost: topics {settings.kafka_topic_prefix}*, keyspace "
          f"{settings.cassandra_keyspace}, logs in {WORK}", flush=True)  # fmt: skip
    from engine.adapters import open_backend
    from engine.metrics import Metrics

    try:
        backend = open_backend(settings, Metrics())
        await backend.start()  # the keyspace, the schema and the topics
        await backend.stop()
        if "posts" in args.only:
            print(f"== single posts: {args.posts} at {args.connections} connections ==", flush=True)
            show(await single_posts(settings, args, servers), "posts")
        if "batch" in args.only:
            print(f"== batch ingest: {args.records} records ==", flush=True)
            show(await batches(settings, args, servers), "records")
    finally:
        await drop_run(settings)  # the batch run's topics carry the same prefix


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.post_cost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--posts", type=int, default=30_000, help="single posts per server")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--users", type=int, default=200, help="registered authors")
    p.add_argument("--records", type=int, default=100_000, help="tweets per batch measurement")
    p.add_argument("--only", default="posts,batch", help="posts, batch or both")
    p.add_argument("--profile", type=float, default=0.0, help="py-spy seconds on ingest")
    p.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    p.add_argument("--topic", default=BARE_TOPIC, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.topic)
        return 0
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
