"""Live streams: memory per idle SSE connection and publish-to-received latency.

Starts the write side (`timeline up`) and, beside it, a `timeline readers` process alone on
the same backend (the embedded backend's files, or a keyspace and topic prefix of its own on
the local Kafka and Cassandra), both on 127.0.0.1. Registers one author and N users who
follow it (or, with --kind hashtag, nobody), opens N idle streams to the readers process
(home timelines, or one hashtag), and reads the readers process's resident memory (VmRSS,
/proc) before and after: the difference over N is the memory of one idle stream. Then posts
tweets one at a time and times, for every stream, from just before the POST to the moment
its `id:` line arrives: publish-to-received latency, p50 and p99 over every (tweet, stream).

    python -m bench.streams [--connections 2000] [--backend embedded|kafka-cassandra]
                            [--kind home|hashtag] [--tweets 20]

Prints the figures and writes them as JSON under bench/results/streams-<UTC timestamp>/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import uvloop

from bench.embedded import free_port, wait_ready

RESULTS = Path(__file__).resolve().parent / "results"
OPEN_CONCURRENCY = 200


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit of open files towards `wanted` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Stack:
    """The two engine processes and how to reach them."""

    env: dict[str, str]
    write_url: str = ""
    read_url: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, *args: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        cmd = [sys.executable, "-m", "timeline", *args, "--port", str(port)]
        proc = subprocess.Popen(cmd, env=self.env)
        self.procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def backend_env(backend: str, run: str) -> dict[str, str]:
    env = dict(os.environ, TIMELINE_RATE_LIMITS="off", TIMELINE_LOG_LEVEL="WARNING")
    env["TIMELINE_BACKEND"] = backend
    if backend == "embedded":
        env["TIMELINE_DATA_DIR"] = tempfile.mkdtemp(prefix="timeline-streams-")
        return env
    from deploy.local import infra

    infra.ensure_up()
    host, port = infra.cassandra_contact()
    env.update(
        TIMELINE_KAFKA_BOOTSTRAP=infra.kafka_bootstrap(),
        TIMELINE_CASSANDRA_HOSTS=host,
        TIMELINE_CASSANDRA_PORT=str(port),
        TIMELINE_CASSANDRA_KEYSPACE=f"bench_streams_{run}",
        TIMELINE_KAFKA_TOPIC_PREFIX=f"bench-streams-{run}.",
        TIMELINE_CONSUMER_GROUP_PREFIX=f"bench-streams-{run}-",
        TIMELINE_CASSANDRA_REQUEST_TIMEOUT_S="60",  # creating a keyspace on a busy machine
    )
    return env


async def drop_kafka_cassandra(env: dict[str, str]) -> None:
    """Drop the run's keyspace and topics."""
    from aiokafka.admin import AIOKafkaAdminClient
    from cassandra.cluster import Cluster

    cluster = Cluster([env["TIMELINE_CASSANDRA_HOSTS"]], port=int(env["TIMELINE_CASSANDRA_PORT"]))
    try:
        keyspace = env["TIMELINE_CASSANDRA_KEYSPACE"]
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    finally:
        cluster.shutdown()
    admin = AIOKafkaAdminClient(bootstrap_servers=env["TIMELINE_KAFKA_BOOTSTRAP"])
    await admin.start()
    try:
        prefix = env["TIMELINE_KAFKA_TOPIC_PREFIX"]
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


async def register(session: aiohttp.ClientSession, url: str, n: int) -> tuple[str, list[str]]:
    """An author and n users who follow it; returns once fan-out has written every follow."""
    sem = asyncio.Semaphore(64)
    run = uuid.uuid4().hex[:5]

    async def user(handle: str) -> str:
        async with sem, session.post(f"{url}/v1/users", json={"handle": handle}) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])

    author = await user(f"a{run}")
    users = list(await asyncio.gather(*(user(f"s{run}{i}") for i in range(n))))

    async def follow(uid: str) -> None:
        async with sem, session.put(f"{url}/v1/users/{uid}/following/{author}") as resp:
            assert resp.status == 200, await resp.text()

    await asyncio.gather(*map(follow, users))
    return author, users


async def wait_followers(session: aiohttp.ClientSession, url: str, author: str, n: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        async with session.get(f"{url}/v1/users/{author}") as resp:
            if resp.status == 200 and (await resp.json())["followers_count"] >= n:
                return
        await asyncio.sleep(0.5)
    raise RuntimeError("fan-out did not write the follows in 300 s")


class Streams:
    """N idle SSE connections, each noting when each tweet id arrives."""

    def __init__(self) -> None:
        self.received: defaultdict[str, list[float]] = defaultdict(list)
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []
        self.target: tuple[str, int] | None = None  # (tweet id, streams that must get it)
        self.complete = asyncio.Event()
        self.post_ms: list[float] = []  # how long each POST took to be answered

    async def open(self, url: str, paths: list[str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        sem = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(path: str) -> None:
            async with sem:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(f"GET {quote(path)} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                head = b""
                while b"stream open" not in head:
                    line = await reader.readline()
                    if not line:
                        raise RuntimeError(f"the stream {path} ended at once: {head[:300]!r}")
                    head += line
                self.writers.append(writer)
                self.tasks.append(asyncio.create_task(self._read(reader)))

        await asyncio.gather(*map(one, paths))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                if line.startswith(b"id: "):
                    self._note(line[4:].strip().decode(), time.perf_counter())
                elif line.startswith(b"event: error"):
                    self.errors.append((await reader.readline()).decode())
        except (ConnectionError, asyncio.CancelledError):
            pass

    def _note(self, tweet_id: str, at: float) -> None:
        arrivals = self.received[tweet_id]
        arrivals.append(at)
        if self.target == (tweet_id, len(arrivals)):
            self.complete.set()

    async def until_all(self, tweet_id: str, n: int, timeout_s: float) -> None:
        """Wait until n streams got the tweet."""
        self.complete.clear()
        self.target = (tweet_id, n)
        if len(self.received[tweet_id]) >= n:
            return
        async with asyncio.timeout(timeout_s):
            await self.complete.wait()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def open_metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def fanout_delivery(session: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """The write side's timeline_delivery_seconds (append to home rows written): sum, count."""
    total = await open_metric(session, url, "timeline_delivery_seconds_sum")
    return total, await open_metric(session, url, "timeline_delivery_seconds_count")


async def publish(
    session: aiohttp.ClientSession, url: str, streams: Streams, body: dict[str, str], n: int
) -> tuple[list[float], float]:
    """Post one tweet; each stream's latency, and the time until the last stream got it."""
    started = time.perf_counter()
    async with session.post(f"{url}/v1/tweets", json=body) as resp:
        assert resp.status == 202, await resp.text()
        tweet_id = str((await resp.json())["id"])
    streams.post_ms.append((time.perf_counter() - started) * 1000)
    try:
        await streams.until_all(tweet_id, n, 30)
    except TimeoutError as e:
        got = len(streams.received[tweet_id])
        raise RuntimeError(f"only {got} of {n} streams got tweet {tweet_id} in 30 s") from e
    arrivals = streams.received[tweet_id]
    latencies = [t - started for t in arrivals]
    return latencies, max(latencies)


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = args.connections
    write, stack.write_url = stack.spawn("up")
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_ready(session, stack.write_url, write)
        readers, stack.read_url = stack.spawn("readers")
        await wait_ready(session, stack.read_url, readers)
        if args.kind == "home":
            author, users = await register(session, stack.write_url, n)
            await wait_followers(session, stack.read_url, author, n)
            paths = [f"/v1/users/{u}/home_timeline/stream" for u in users]
            text = "Сәлем, әлем! ტვიტერი"
        else:
            author, _ = await register(session, stack.write_url, 0)
            tag = f"ტვიტერი{uuid.uuid4().hex[:6]}"
            paths = [f"/v1/hashtags/{tag}/stream"] * n
            text = f"Сәлем, #{tag}!"
        await asyncio.sleep(2)
        rss_before = rss_bytes(readers.pid)
        streams = Streams()
        opened_at = time.perf_counter()
        await streams.open(stack.read_url, paths)
        open_s = time.perf_counter() - opened_at
        await asyncio.sleep(3)
        rss_after = rss_bytes(readers.pid)
        gauge = await open_metric(session, stack.read_url, "timeline_streams_open")
        warm_body = {"author_id": author, "text": f"{text} warm-up"}
        _, first = await publish(session, stack.write_url, streams, warm_body, n)
        all_latencies: list[float] = []
        last: list[float] = []
        streams.post_ms.clear()
        delivery = await fanout_delivery(session, stack.write_url)
        for i in range(args.tweets):
            body = {"author_id": author, "text": f"{text} {i}"}
            latencies, slowest = await publish(session, stack.write_url, streams, body, n)
            all_latencies += latencies
            last.append(slowest)
            await asyncio.sleep(args.gap_s)
        cut = await open_metric(session, stack.read_url, "timeline_stream_cutoffs_total")
        delivered = await fanout_delivery(session, stack.write_url)
        count = delivered[1] - delivery[1]
        fanout_mean_ms = (delivered[0] - delivery[0]) / count * 1000 if count else None
        rss_end = rss_bytes(readers.pid)
        await streams.close()
    return {
        "backend": args.backend,
        "kind": args.kind,
        "connections": n,
        "streams_open_gauge": gauge,
        "open_seconds": open_s,
        "readers_rss_before_bytes": rss_before,
        "readers_rss_after_bytes": rss_after,
        "readers_rss_end_bytes": rss_end,
        "rss_per_connection_bytes": (rss_after - rss_before) / n,
        "tweets": args.tweets,
        "first_tweet_all_streams_ms": first * 1000,
        "latency_p50_ms": quantile(all_latencies, 50),
        "latency_p99_ms": quantile(all_latencies, 99),
        "latency_max_ms": max(all_latencies) * 1000,
        "all_streams_got_it_p50_ms": statistics.median(last) * 1000,
        "all_streams_got_it_ms_per_tweet": [round(x * 1000, 1) for x in last],
        "post_answered_ms_per_tweet": [round(x, 1) for x in streams.post_ms],
        "cutoffs": cut,
        "fanout_delivery_mean_ms": fanout_mean_ms,
        "stream_errors": streams.errors[:5],
        "write_pid": write.pid,
    }


def report(result: dict[str, Any]) -> str:
    r = result
    return "\n".join(
        [
            f"{r['connections']} idle {r['kind']} streams on one `timeline readers` "
            f"({r['backend']}); gauge says {r['streams_open_gauge']:.0f} open, "
            f"opened in {r['open_seconds']:.1f} s",
            f"readers RSS {r['readers_rss_before_bytes'] / 2**20:.1f} MiB -> "
            f"{r['readers_rss_after_bytes'] / 2**20:.1f} MiB: "
            f"{r['rss_per_connection_bytes'] / 1024:.1f} KiB per idle stream",
            f"publish-to-received over {r['tweets']} tweets x {r['connections']} streams: "
            f"p50 {r['latency_p50_ms']:.1f} ms, p99 {r['latency_p99_ms']:.1f} ms, "
            f"max {r['latency_max_ms']:.1f} ms; every stream had it after "
            f"{r['all_streams_got_it_p50_ms']:.1f} ms (median); cut off: {r['cutoffs']:.0f}; "
            f"the warm-up tweet before them reached every stream in "
            f"{r['first_tweet_all_streams_ms']:.0f} ms",
            "of which the fan-out group took (append to home rows written, mean): "
            + (
                f"{r['fanout_delivery_mean_ms']:.1f} ms"
                if r["fanout_delivery_mean_ms"] is not None
                else "n/a (no home rows)"
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--backend", choices=("embedded", "kafka-cassandra"), default="embedded")
    parser.add_argument("--kind", choices=("home", "hashtag"), default="home")
    parser.add_argument("--tweets", type=int, default=20)
    parser.add_argument("--gap-s", type=float, default=0.5, help="pause between tweets")
    args = parser.parse_args()
    limit = raise_fd_limit(args.connections * 2 + 1024)
    if limit < args.connections + 256:
        sys.exit(f"open files are limited to {limit}: too few for {args.connections} streams")
    run = uuid.uuid4().hex[:8]
    stack = Stack(backend_env(args.backend, run))
    try:
        result = uvloop.run(measure(args, stack))  # the client's own loop costs little
    finally:
        stack.stop()
        if args.backend == "kafka-cassandra":
            try:
                asyncio.run(drop_kafka_cassandra(stack.env))
            except Exception as e:  # a busy Cassandra: say what is left behind
                keyspace = stack.env["TIMELINE_CASSANDRA_KEYSPACE"]
                print(f"could not drop keyspace {keyspace} and its topics: {e!r}")
    result["command"] = "python -m bench.streams " + " ".join(sys.argv[1:])
    text = report(result)
    print(text)
    out = RESULTS / f"streams-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (out / "SUMMARY.md").write_text(f"```\n$ {result['command']}\n{text}\n```\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
