"""Several `timeline` processes on one data folder, or one Kafka and Cassandra, post at once
while one is SIGKILLed and started again: every acknowledged id is unique and names its tweet.

Each process leases its own Snowflake worker id; without leases they all issued ids as
worker 0, and ids issued in the same millisecond collided.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from deploy.local import infra
from deploy.local.cleanup import drop_run
from engine.config import Settings
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration
BATCHES = 12  # per process
BATCH = 100
AUTHORS_PER_PROCESS = 2


def timeline_command() -> list[str]:
    """The installed `timeline` CLI of this interpreter's environment."""
    installed = Path(sys.executable).parent / "timeline"
    if installed.exists():
        return [str(installed)]
    return [shutil.which("timeline") or "timeline"]


@dataclass
class Node:
    """One `timeline` process: its command, its port and its Popen while it runs."""

    command: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [*timeline_command(), self.command, "--port", str(self.port)]
        self.proc = subprocess.Popen(argv, env=self.env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True)
class Run:
    """The environment every process of one run shares, and its settings for cleanup."""

    env: dict[str, str]
    settings: Settings


@pytest.fixture
def run(backend_kind: str, tmp_path: Path) -> Iterator[Run]:
    with run_of(backend_kind, tmp_path) as started:
        yield started


@contextlib.contextmanager
def run_of(backend_kind: str, tmp_path: Path) -> Iterator[Run]:
    """A data folder, or a keyspace, topics and groups of its own (migrated, dropped after)."""
    env = dict(os.environ, TIMELINE_RATE_LIMITS="off", TIMELINE_LOG_LEVEL="WARNING")
    env.update(TIMELINE_BACKEND=backend_kind, TIMELINE_KAFKA_PARTITIONS="3")
    if backend_kind == "embedded":
        env["TIMELINE_DATA_DIR"] = str(tmp_path / "data")
        yield Run(env, Settings.from_env(env))
        return
    tag = uuid.uuid4().hex[:8]
    host, port = infra.cassandra_contact()
    env.update(
        TIMELINE_KAFKA_BOOTSTRAP=infra.kafka_bootstrap(),
        TIMELINE_CASSANDRA_HOSTS=host,
        TIMELINE_CASSANDRA_PORT=str(port),
        TIMELINE_CASSANDRA_KEYSPACE=f"ids_{tag}",
        TIMELINE_KAFKA_TOPIC_PREFIX=f"ids-{tag}.",
        TIMELINE_CONSUMER_GROUP_PREFIX=f"ids-{tag}-",
        TIMELINE_CASSANDRA_REQUEST_TIMEOUT_S="60",  # schema changes are slow on a busy node
    )
    settings = Settings.from_env(env)
    try:
        subprocess.run([*timeline_command(), "migrate"], env=env, check=True, timeout=300)
        yield Run(env, settings)
    finally:
        asyncio.run(drop_run(settings))


@contextlib.asynccontextmanager
async def cluster(run: Run) -> AsyncIterator[list[Node]]:
    """One `timeline up` (the only consumer of an embedded data folder) and two
    `timeline ingest` processes that only append, all started and ready."""
    nodes = [Node("up", run.env), Node("ingest", run.env), Node("ingest", run.env)]
    try:
        for node in nodes:
            node.start()
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(ready(session, node) for node in nodes))
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def ready(session: aiohttp.ClientSession, node: Node) -> None:
    async def probe() -> int:
        assert node.proc is not None
        if node.proc.poll() is not None:
            raise AssertionError(f"timeline {node.command} exited with {node.proc.returncode}")
        try:
            async with session.get(f"{node.url}/readyz") as resp:
                return resp.status
        except aiohttp.ClientError:
            return 0

    await eventually(probe, lambda status: status == 200, 120, every_s=0.2)


async def register(session: aiohttp.ClientSession, node: Node) -> str:
    handle = f"w{uuid.uuid4().hex[:12]}"
    async with session.post(f"{node.url}/v1/users", json={"handle": handle}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def post_batches(
    session: aiohttp.ClientSession, node: Node, authors: list[str], acked: dict[str, list[str]]
) -> None:
    """Post BATCHES batches to one process; record (id -> author) of each acknowledged tweet.
    A request the process died under is not acknowledged."""
    rng = random.Random()
    for b in range(BATCHES):
        tweets = [
            {"author_id": author, "text": f"{node.port} {b} {i}"}
            for i, author in enumerate(rng.choices(authors, k=BATCH))
        ]
        try:
            async with session.post(f"{node.url}/v1/tweets/batch", json={"tweets": tweets}) as resp:
                if resp.status != 202:
                    continue
                results = (await resp.json())["results"]
        except aiohttp.ClientError:
            continue
        for result in results:
            if "id" in result:
                acked.setdefault(result["id"], []).append(result["author_id"])


async def test_ids_are_unique_across_processes_and_a_kill(run: Run) -> None:
    acked: dict[str, list[str]] = {}
    async with cluster(run) as nodes, aiohttp.ClientSession() as session:
        authors = [
            await register(session, node) for node in nodes for _ in range(AUTHORS_PER_PROCESS)
        ]
        victim = nodes[1]
        posting = [asyncio.create_task(post_batches(session, n, authors, acked)) for n in nodes]
        await eventually(lambda: asyncio.sleep(0, len(acked)), lambda n: n >= BATCH * 3, 120)
        victim.kill()
        victim.start()  # the same command on the same folder or cluster, while others post
        await ready(session, victim)
        posting.append(asyncio.create_task(post_batches(session, victim, authors, acked)))
        await asyncio.gather(*posting)
        registered_again = await register(session, victim)

        repeated = {i: a for i, a in acked.items() if len(a) > 1}
        assert len(repeated) == 0, f"{len(repeated)} ids acknowledged more than once"
        assert len(acked) >= BATCH * 6
        users = [*authors, registered_again]
        assert len(set(users)) == len(users) and not set(users) & acked.keys()

        reader = nodes[0]
        limit = asyncio.Semaphore(16)

        async def author_of(tweet_id: str) -> str | None:
            async with limit, session.get(f"{reader.url}/v1/tweets/{tweet_id}") as resp:
                return str((await resp.json())["author_id"]) if resp.status == 200 else None

        async def stored_as_acked(tweet_id: str) -> None:
            await eventually(
                lambda: author_of(tweet_id), lambda a: a == acked[tweet_id][0], 120, every_s=0.5
            )

        await asyncio.gather(*(stored_as_acked(i) for i in acked))
