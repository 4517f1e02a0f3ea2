"""How long a record waits before a consumer of a busy topic and an idle one polls it, with
Kafka's default fetch wait (500 ms) and with the engine's (FETCH_MAX_WAIT_MS), in one run.

The consumer is shaped like the fan-out: one group member subscribed to a busy topic and an
idle one (tweets beside the graph), applying each batch for 95 ms + 1.7 ms a record (the
fan-out's apply time at 250 tweets/s on this machine), while a producer appends at a fixed
rate. Each record carries its scheduled time; a record's wait is from then to the poll that
returned it. aiokafka keeps one fetch in flight per broker: with the default wait, a fetch of
the idle partitions alone (sent while the busy ones' records wait to be consumed) is held by
the broker and delays the busy partitions' next fetch.

    python -m bench.kafka_fetch [--rate 250] [--seconds 20]

Needs the local Kafka (`timeline infra up`); creates two topics named kafka-fetch-<pid>-*.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.adapters.kafka.log import FETCH_MAX_WAIT_MS
from engine.config import Settings

KAFKA_DEFAULT_WAIT_MS = 500


async def measure(
    bootstrap: str, busy: str, idle: str, wait_ms: int, rate: float, seconds: float
) -> dict[str, Any]:
    """Receive waits (ms) of records appended at `rate` for `seconds` to `busy`, polled by a
    consumer of `busy` and `idle` whose fetches the broker holds at most `wait_ms`."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    consumer = AIOKafkaConsumer(
        busy,
        idle,
        bootstrap_servers=bootstrap,
        group_id=f"{busy}-{wait_ms}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=wait_ms,
    )
    await producer.start()
    await consumer.start()
    waits: list[float] = []
    sizes: list[int] = []
    done = asyncio.Event()

    async def consume() -> None:
        while not done.is_set():
            batches = await consumer.getmany(timeout_ms=50, max_records=2000)
            now_ms = time.time() * 1000
            got = [now_ms - float(m.value or b"0") for ms in batches.values() for m in ms]
            if got:
                waits.extend(got)
                sizes.append(len(got))
                await asyncio.sleep((95 + 1.7 * len(got)) / 1000)  # the batch's apply

    try:
        task = asyncio.create_task(consume())
        await asyncio.sleep(3)  # joined and positioned
        t0, sent = time.time(), 0
        while time.time() - t0 < seconds:
            due = int((time.time() - t0) * rate) + 1
            for k in range(sent, due):
                scheduled = str((t0 + k / rate) * 1000).encode()
                await producer.send(busy, scheduled, key=str(k % 997).encode())
            sent = due
            await asyncio.sleep(0.002)
        await asyncio.sleep(2)
        done.set()
        await task
    finally:
        await consumer.stop()
        await producer.stop()
    settled = np.array(waits[len(waits) // 10 :])  # past the first batches
    return {
        "fetch_max_wait_ms": wait_ms,
        "records": int(settled.size),
        "p50_ms": round(float(np.percentile(settled, 50)), 1),
        "p99_ms": round(float(np.percentile(settled, 99)), 1),
        "max_ms": round(float(settled.max()), 1),
        "batch_sizes": sizes[5:25],
    }


async def main(rate: float, seconds: float) -> None:
    bootstrap = Settings.from_env(backend="kafka-cassandra").kafka_bootstrap
    base = f"kafka-fetch-{os.getpid()}"
    busy, idle = f"{base}-busy", f"{base}-idle"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(busy, 6, 1), NewTopic(idle, 6, 1)])
        await asyncio.sleep(1)  # their leaders elected
        results = [
            await measure(bootstrap, busy, idle, wait, rate, seconds)
            for wait in (KAFKA_DEFAULT_WAIT_MS, FETCH_MAX_WAIT_MS)
        ]
    finally:
        await admin.delete_topics([busy, idle])
        await admin.close()
    for r in results:
        print(
            f"fetch.max.wait.ms {r['fetch_max_wait_ms']:>3}: wait p50 {r['p50_ms']} ms, "
            f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms over {r['records']} records; "
            f"batches {r['batch_sizes']}"
        )
    default, ours = results
    print(f"p99 ratio (engine / Kafka default): {ours['p99_ms'] / default['p99_ms']:.2f}")


def cli() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.kafka_fetch", description=__doc__)
    p.add_argument("--rate", type=float, default=250.0, help="records a second (250)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of appends (20)")
    args = p.parse_args()
    asyncio.run(main(args.rate, args.seconds))


if __name__ == "__main__":
    cli()
