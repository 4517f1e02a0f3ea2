"""The fan-out's follow graph in memory: how long a fan-out process takes to start from the
graph's snapshot, and the memory it holds per edge, at a given number of edges.

    python -m bench.follower_index --edges 1000000 --backend kafka-cassandra
    python -m bench.follower_index --edges 1000000 --backend embedded

The edges (each of `--users` users following `--edges / --users` others, chosen uniformly)
are written with the graph store's own `put_edges`, then a FollowerIndex is opened the way a
fan-out process opens it: the snapshot read from the store at the group's committed offsets
(none yet: the whole table), then the graph topic tailed from there. Memory is what
tracemalloc sees allocated while the index is held, divided by its edges. Kafka + Cassandra
runs in a keyspace and topic prefix of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import tracemalloc

from tqdm import tqdm

from bench.config import scale_from_env
from bench.stack import bench_settings, new_run_id
from deploy.local.cleanup import drop_run
from engine.adapters import open_backend
from engine.adapters.cassandra.session import CqlSession
from engine.config import Settings
from engine.ids import IdGenerator
from engine.metrics import Metrics
from engine.ports import Backend
from fanout.audience import FollowerIndex

CHUNK = 20_000


async def _put_edges(backend: Backend, pairs: list[tuple[int, int]], ts_us: int) -> None:
    """The edges as the graph store holds them. On Cassandra the rows FollowGraph keeps for
    an edge are written in grouped batches (a put_edges call writes them a statement at a
    time, which would make loading a million edges the bulk of the run); elsewhere with
    put_edges itself."""
    cql = getattr(backend, "cql", None)
    if not isinstance(cql, CqlSession):
        await backend.graph.put_edges(pairs, [ts_us] * len(pairs))
        return
    writes = [
        (statement, params, 40)
        for follower, followee in pairs
        for statement, params in (
            ("INSERT INTO following (user_id, followee_id) VALUES (?, ?) USING TIMESTAMP ?",
             (follower, followee, ts_us)),
            ("INSERT INTO followers (user_id, follower_id) VALUES (?, ?) USING TIMESTAMP ?",
             (followee, follower, ts_us)),
            ("INSERT INTO follow_changes (user_id, followee_id, changed_us) VALUES (?, ?, ?) "
             "USING TIMESTAMP ?", (follower, followee, ts_us, ts_us)),
        )
    ]  # fmt: skip
    await cql.write_grouped(writes, op="bench_edges")


async def measure(settings: Settings, edges: int, users: int, progress: bool) -> dict[str, float]:
    backend = open_backend(settings, Metrics())
    await backend.start()
    try:
        gen = IdGenerator(7)
        ids = [gen.next_id() for _ in range(users)]
        rnd = random.Random(3)
        per = max(1, edges // users)
        pairs = [(f, a) for f in ids for a in rnd.sample(ids, per)]
        now_us = time.time_ns() // 1000
        started = time.monotonic()
        with tqdm(total=len(pairs), desc="edges", unit="edge", disable=not progress) as bar:
            for i in range(0, len(pairs), CHUNK):
                chunk = pairs[i : i + CHUNK]
                await _put_edges(backend, chunk, now_us)
                bar.update(len(chunk))
        load_s = time.monotonic() - started
        tracemalloc.start()
        index = FollowerIndex(backend)
        started = time.monotonic()
        await index.open(f"{settings.consumer_group_prefix}follower-index-bench")
        open_s = time.monotonic() - started
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        count = index.edges
        await index.stop()
    finally:
        await backend.stop()
    return {
        "edges": count,
        "load_s": round(load_s, 1),
        "open_s": round(open_s, 1),
        "held_mb": round(held / 1e6, 1),
        "bytes_per_edge": round(held / max(count, 1), 1),
        "peak_mb": round(peak / 1e6, 1),
    }


async def main_async(args: argparse.Namespace) -> None:
    if args.backend == "embedded":
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings.from_env(backend="embedded", data_dir=tmp)
            result = await measure(settings, args.edges, args.users, not args.no_progress)
    else:
        settings = bench_settings(new_run_id(), scale_from_env(name="small"))
        try:
            result = await measure(settings, args.edges, args.users, not args.no_progress)
        finally:
            await drop_run(settings)
    print(
        f"follower index on {args.backend}: {result['edges']:,} edges, opened in "
        f"{result['open_s']} s (edges written in {result['load_s']} s); "
        f"{result['held_mb']} MB held, {result['bytes_per_edge']} B/edge, "
        f"peak {result['peak_mb']} MB while opening",
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.follower_index", description=__doc__.split("\n")[0]
    )
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--backend", choices=("embedded", "kafka-cassandra"), default="embedded")
    p.add_argument("--no-progress", action="store_true")
    return p


def main() -> None:
    asyncio.run(main_async(parser().parse_args()))


if __name__ == "__main__":
    main()
