"""Home-timeline writes saved by skipping inactive followers, and fan-out time with and without.

A skewed follow graph (bench/graph.py: log-normal following counts, 30% of edges Zipf by
popularity) is written straight into a backend's stores, with a last home-timeline read for
every user drawn from a stated assumption (below). Then the same stream of tweets is fanned
out with the engine's own PostFanout, in batches as the fan-out group applies them,
with skipping off (TIMELINE_INACTIVE_AFTER_S=0) and on (30 days), alternating for `--rounds`
rounds (the fastest round of each is reported). Printed, and written to
bench/results/inactive-<UTC timestamp>/results.json: home rows written in each mode, their
ratio, rows skipped, and fan-out time.

    python -m bench.inactive [--users 20000] [--tweets 20000] [--rounds 2]
                             [--backend embedded|kafka-cassandra]

Activity assumption (independent of the graph): 25% of accounts read daily, 30% within the
month but not daily, 45% not in the last 30 days. Twitter's S-1 (October 2013) reported
215M monthly and ~100M daily actives (DAU/MAU about 0.47), while outside counts of
registered accounts at the time were over 500M (Semiocast, July 2012: 517M), i.e. well over
half of all accounts were not monthly actives; 45% is the conservative end. Daily readers
last read 0-1 days ago, monthly ones 1-30 days ago, inactive ones 30-365 days ago. Authors
are drawn uniformly from the accounts active in the month (an account that reads nothing
posts nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.graph import EDGE_CHUNK, GraphSpec, generate
from deploy.local.cleanup import drop_run
from engine.adapters import open_backend
from engine.config import Settings
from engine.errors import TimelineError
from engine.events import TweetPosted
from engine.ids import IdGenerator, id_ms
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import Tweet
from fanout.audience import FollowerIndex
from fanout.posts import PostFanout

DAY_US = 86_400 * 1_000_000
SHARES = {"daily": 0.25, "monthly": 0.30, "inactive": 0.45}
LAST_READ_DAYS = {"daily": (0, 1), "monthly": (1, 30), "inactive": (30, 365)}
RESULTS = Path(__file__).resolve().parent / "results"


def last_reads(users: int, now_us: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(class index per user, last read time per user) under the stated assumption."""
    classes = rng.choice(len(SHARES), size=users, p=list(SHARES.values()))
    bounds = np.array(list(LAST_READ_DAYS.values()), dtype=np.float64)
    days = rng.uniform(bounds[classes, 0], bounds[classes, 1])
    return classes, (now_us - days * DAY_US).astype(np.int64)


async def load(backend: Backend, ids: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> None:
    """The follow edges, written through the port (on the embedded backend, as one bulk insert
    of the same rows: the port's guarded upserts take minutes for a graph this size)."""
    pairs = sorted(zip(ids[edges[0]].tolist(), ids[edges[1]].tolist(), strict=True))
    ts = int(time.time_ns() // 1000) - 400 * DAY_US
    store_db = getattr(backend, "store_db", None)
    if store_db is not None:
        await store_db.write("bench_edges", lambda c: _bulk_edges(c, pairs, ts))
        return
    for start in range(0, len(pairs), EDGE_CHUNK):
        chunk = pairs[start : start + EDGE_CHUNK]
        await retrying(partial(backend.graph.put_edges, chunk, [ts] * len(chunk)))


async def retrying(write: Callable[[], Awaitable[None]], attempts: int = 8) -> None:
    """An idempotent write, retried with backoff while the store is briefly unavailable (as
    the fan-out group retries a batch)."""
    for attempt in range(attempts):
        try:
            await write()
            return
        except TimelineError as e:
            if not e.retriable or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


def _bulk_edges(conn: Any, pairs: list[tuple[int, int]], ts: int) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO following (user_id, followee_id, ts) VALUES (?, ?, ?)",
        ((f, t, ts) for f, t in pairs),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO followers (user_id, follower_id, ts) VALUES (?, ?, ?)",
        ((followee, follower, ts) for followee, follower in sorted((t, f) for f, t in pairs)),
    )


async def put_activity(backend: Backend, ids: np.ndarray, reads: np.ndarray) -> None:
    pairs = list(zip(ids.tolist(), reads.tolist(), strict=True))
    for start in range(0, len(pairs), 1000):
        chunk = pairs[start : start + 1000]
        await retrying(partial(_mark, backend, chunk))


async def _mark(backend: Backend, reads: list[tuple[int, int]]) -> None:
    await asyncio.gather(*(backend.activity.mark_read(u, t) for u, t in reads))


def stream(ids: np.ndarray, authors: np.ndarray, tweets: int, seed: int) -> list[TweetPosted]:
    """The tweets both runs fan out, in order."""
    rng = np.random.default_rng(seed)
    gen = IdGenerator(1022)
    events = []
    for n, author in enumerate(rng.choice(authors, size=tweets).tolist()):
        tid = gen.next_id()
        tweet = Tweet(tid, int(ids[author]), f"u{author}", f"tweet {n}", id_ms(tid))
        events.append(TweetPosted(gen.next_id(), time.time_ns() // 1000, tweet))
    return events


async def fan_out(
    settings: Settings, backend: Backend, events: list[TweetPosted], batch: int
) -> dict[str, float]:
    metrics = Metrics()
    index = FollowerIndex(backend)
    await index.open(f"bench-inactive-{time.time_ns()}")  # the graph loaded just before
    try:
        projector = PostFanout(settings, backend, metrics, index)
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            await retrying(partial(projector.apply_posts, events[start : start + batch]))
        seconds = time.perf_counter() - started
    finally:
        await index.stop()
    rows = metrics.registry.get_sample_value(
        "timeline_fanout_rows_written_total", {"table": "home_timeline"}
    )
    skipped = metrics.registry.get_sample_value("timeline_fanout_home_rows_skipped_total")
    return {
        "home_rows": rows or 0.0,
        "skipped_rows": skipped or 0.0,
        "seconds": round(seconds, 3),
        "tweets_per_s": round(len(events) / seconds, 1),
        "home_rows_per_s": round((rows or 0.0) / seconds, 1),
    }


def fastest(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The fastest of a mode's rounds (rows are the same in each), with every round's time."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    return {**best, "rounds_seconds": [r["seconds"] for r in runs]}


def settings_for(args: argparse.Namespace, work: Path, run: str) -> Settings:
    s = Settings.from_env(backend=args.backend, data_dir=str(work / "data"))
    if args.backend == "kafka-cassandra":
        s = dataclasses.replace(
            s, cassandra_keyspace=f"bench_inactive_{run}", kafka_topic_prefix=f"bi-{run}."
        )
    return s


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    spec = GraphSpec(users=args.users, mean_following=args.mean_following, seed=args.seed)
    graph = generate(spec)
    rng = np.random.default_rng(args.seed + 1)
    now_us = time.time_ns() // 1000
    classes, reads = last_reads(spec.users, now_us, rng)
    gen = IdGenerator(1021)
    ids = np.array([gen.next_id() for _ in range(spec.users)], dtype=np.int64)
    authors = np.flatnonzero(classes != list(SHARES).index("inactive"))
    events = stream(ids, authors, args.tweets, args.seed + 2)
    with tempfile.TemporaryDirectory(prefix="bench-inactive-") as tmp:
        base = settings_for(args, Path(tmp), run_id)
        backend = open_backend(base, Metrics())
        await backend.start()
        try:
            t0 = time.perf_counter()
            await load(backend, ids, (graph.follower, graph.followee))
            await put_activity(backend, ids, reads)
            load_s = time.perf_counter() - t0
            rounds: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
            for _ in range(args.rounds):  # alternating, so neither run has the warm cache
                for mode, after_s in (("off", 0), ("on", 30 * 86_400)):
                    await backend.timelines.clear()
                    mode_settings = dataclasses.replace(base, inactive_after_s=after_s)
                    rounds[mode].append(await fan_out(mode_settings, backend, events, args.batch))
                    print(f"skipping {mode:>3}: {json.dumps(rounds[mode][-1])}", flush=True)
            results = {mode: fastest(found) for mode, found in rounds.items()}
        finally:
            await backend.stop()
            if args.backend == "kafka-cassandra":
                await drop_run(base)
    follower_counts = graph.follower_counts()
    inactive = classes == list(SHARES).index("inactive")
    return {
        "command": f"python -m bench.inactive --users {args.users} --tweets {args.tweets} "
        f"--backend {args.backend} --rounds {args.rounds}",
        "backend": args.backend,
        "assumption": {"shares": SHARES, "last_read_days": LAST_READ_DAYS},
        "graph": graph.stats(base.celebrity_threshold),
        "accounts_inactive": round(float(inactive.mean()), 4),
        "follow_edges_to_inactive_followers": round(float(inactive[graph.follower].mean()), 4),
        "max_followers": int(follower_counts.max()),
        "tweets": args.tweets,
        "batch": args.batch,
        "rounds": args.rounds,
        "load_seconds": round(load_s, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "off": results["off"],
        "on": results["on"],
        "rows_ratio_on_off": round(results["on"]["home_rows"] / results["off"]["home_rows"], 4),
        "writes_saved": round(1 - results["on"]["home_rows"] / results["off"]["home_rows"], 4),
        "time_ratio_on_off": round(results["on"]["seconds"] / results["off"]["seconds"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--mean-following", type=float, default=40.0)
    parser.add_argument("--tweets", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="tweets per fan-out batch")
    parser.add_argument("--backend", choices=("embedded", "kafka-cassandra"), default="embedded")
    parser.add_argument("--seed", type=int, default=2010)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, alternating")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    out = RESULTS / f"inactive-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    off, on = result["off"], result["on"]
    print(
        f"home rows written: off {off['home_rows']:,.0f}, on {on['home_rows']:,.0f} "
        f"(ratio {result['rows_ratio_on_off']:.3f}, {result['writes_saved']:.1%} saved); "
        f"fan-out time: off {off['seconds']:.1f} s, on {on['seconds']:.1f} s "
        f"(ratio {result['time_ratio_on_off']:.3f}); "
        f"{result['follow_edges_to_inactive_followers']:.1%} of follow edges have an "
        f"inactive follower; results in {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
