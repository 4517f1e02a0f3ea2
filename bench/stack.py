"""The engine under test: its own keyspace and topic prefix, and its parts as `timeline` processes.

Each part runs as the command an operator would run (`timeline fanout`, `timeline ingest`,
`timeline readers`), configured by TIMELINE_* variables, on the local Kafka and Cassandra of
deploy/local. Everything the run creates carries its run id and is dropped by `drop_run()`
(deploy/local/cleanup.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.config import REPO_ROOT, Scale
from deploy.local import infra
from engine.config import PREFIX, Settings
from engine.groups import group_name

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def new_run_id() -> str:
    """A short id that names the run's keyspace, topics and consumer groups."""
    return uuid.uuid4().hex[:8]


def bench_settings(run_id: str, scale: Scale, **overrides: object) -> Settings:
    """Engine settings on the local servers, in a keyspace and topic prefix of the run's own."""
    host, port = infra.cassandra_contact()
    values: dict[str, object] = {
        "backend": "kafka-cassandra",
        "kafka_bootstrap": infra.kafka_bootstrap(),
        "cassandra_hosts": (host,),
        "cassandra_port": port,
        "cassandra_keyspace": f"bench_{run_id}",
        "kafka_topic_prefix": f"bench-{run_id}.",
        "consumer_group_prefix": f"bench-{run_id}-",
        "celebrity_threshold": scale.celebrity_threshold,
        "log_level": "WARNING",
    }
    known = {f.name for f in dataclasses.fields(Settings)}
    if "rate_limits" in known:  # bench users post far more than a person may: measure ingest,
        values["rate_limits"] = "off"  # not the per-user limiter's 429s
    values.update(overrides)
    return Settings.from_env({}, **values)


def producer(settings: Settings) -> AIOKafkaProducer:
    """A bare producer set up as the engine's EventLog (engine/adapters/kafka/log.py): idempotent,
    acks=all, the same linger, request timeout and batch size."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        max_batch_size=256 * 1024,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The TIMELINE_* variables that give a `timeline` process exactly these settings."""
    env = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        env[PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EngineProcess:
    """One `timeline <part>` process, serving its routes (and /metrics) on its own port."""

    part: str
    settings: Settings
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the process and wait until /readyz answers 200."""
        env = {**os.environ, **settings_env(self.settings)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "timeline", self.part, "--port", str(self.port),
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        await self._wait_ready(timeout_s)

    async def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"timeline {self.part} exited; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"timeline {self.part} not ready in {timeout_s}s; see {self.log_path}")

    async def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM (the batch in hand is finished and committed), then wait; idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def metrics(self) -> Samples:
        """Every sample of the process's /metrics, by (name, sorted labels)."""
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as r:
            return parse_metrics(await r.text())


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the benchmark dies, so no part outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def parse_metrics(text: str) -> Samples:
    """Prometheus text format as {(sample name, sorted label pairs): value}."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def metric_sum(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    want = set(labels.items())
    return sum(v for (n, lb), v in samples.items() if n == name and want <= set(lb))


class LagProbe:
    """How far a consumer group's committed offsets are behind the end of its topics."""

    def __init__(self, settings: Settings, projection: str, topics: tuple[str, ...]) -> None:
        self.settings = settings
        self.group = group_name(settings, projection)
        self.topics = tuple(settings.kafka_topic_prefix + t for t in topics)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)

    async def __aenter__(self) -> LagProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def _partitions(self) -> list[TopicPartition]:
        described = await self._admin.describe_topics(list(self.topics))
        return [
            TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
        ]

    async def positions(self) -> tuple[int, int]:
        """(records committed by the group, records in the topics)."""
        parts = await self._partitions()
        ends = await self._consumer.end_offsets(parts)
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=parts)
        done = sum(max(0, committed[tp].offset) if tp in committed else 0 for tp in parts)
        return done, sum(ends.values())

    async def lag(self) -> int:
        done, end = await self.positions()
        return end - done
