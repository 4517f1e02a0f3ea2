"""`python -m bench` (or `make bench`): the standard set, in one run, on the same servers.

1. graph      generate the follow graph, load it through the log, wait for the fan-out
2. baselines  raw aiokafka, Kafka's ProducerPerformance, raw cassandra-driver writes and reads
3. ingest     POST /v1/tweets/batch as fast as it goes (tweets acked by Kafka per second);
              single posts from a closed loop, against the engine and a bare handler
4. fanout     fan-out throughput over a pre-loaded log, and the bare writer of the same rows
5. pages      home pages from `timeline readers` against bare partition reads
6. pipeline   publish-to-visible at a steady rate; raw reads beside the fan-out
7. http       the Locust profiles against `timeline ingest` + `timeline readers`

`--target URL` runs the Locust profiles against an engine already running on this machine
instead (any backend): the graph goes in through its API, with handles of the run's own,
and CPU is read for the engine's process only when `--pid` names it. The other phases
compare processes the run starts with bare clients on the local Kafka and Cassandra, so
they need no target and take none.

Every measured path also reports its CPU per unit next to its bare client's (bench/costs.py).

Results go to bench/results/<UTC timestamp>/ (results.json, chart.png, SUMMARY.md) and
SUMMARY.md is copied to bench/results/LATEST.md. The run has a keyspace and topic prefix
of its own and drops them at the end (--keep leaves them); Kafka and Cassandra are started
with deploy.local.infra.ensure_up() when they are not running, and left running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import baselines, graph, http_load, ingest, pipeline, profiler, rawhttp, report
from bench.bare_post import BarePostProcess
from bench.config import RESULTS_DIR, Scale, scale_from_env
from bench.costs import (
    COST_ROUNDS,
    ROUND_BACKGROUND_S,
    CostWindow,
    combined,
    requests_by_op,
    requests_per_unit,
    table_bytes,
    this_process,
    wait_idle,
)
from bench.cpu import CpuSampler
from bench.stack import EngineProcess, LagProbe, bench_settings, new_run_id
from bench.tweet_texts import corpus_texts
from deploy.local import infra
from deploy.local.cleanup import drop_run
from deploy.local.settings import Settings as InfraSettings
from engine.adapters import open_backend
from engine.config import Settings
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.groups import CHECKS_PROJECTION, PROJECTION_TOPICS
from engine.ids import IdGenerator
from engine.metrics import Metrics
from engine.ports import Backend

# The processes whose CPU per unit is measured (ingest, the readers of the pages phase) run
# with admission control off (TIMELINE_MAX_IN_FLIGHT=0): on a saturated machine it answers
# 503 whenever the event loop lags, and a refusal costs CPU without being a post or a page;
# the bare clients have nothing like it. Shedding itself is measured by bench/overload.py.
UNSHED = 0
PHASES = ("graph", "baselines", "ingest", "fanout", "pages", "pipeline", "http")
NEEDS_FANOUT = ("pages", "pipeline")  # they read the home timelines the fanout phase fills
PROFILES = ("posts3085", "steady750", "peak2940", "peak3085", "surge", "ramp")


def read_profiles(scale: Scale) -> list[str]:
    """The read-latency profiles: the goal's rate, and a rate a small machine sustains."""
    return [f"read{scale.read_rate_s:g}", f"read{scale.read_low_rate_s:g}"]


@dataclasses.dataclass
class Run:
    """One benchmark run: its sizes, settings, output folder, and what it measured."""

    scale: Scale
    settings: Settings
    out: Path
    progress: bool
    profile: bool
    sampler: CpuSampler = dataclasses.field(default_factory=CpuSampler)
    t0: float = dataclasses.field(default_factory=time.time)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    phases: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    procs: dict[str, EngineProcess] = dataclasses.field(default_factory=dict)
    servers: dict[str, int] = dataclasses.field(default_factory=dict)

    def window(self, client: dict[str, int]) -> CostWindow:
        """A CPU-per-unit window over these client-side processes and the servers."""
        return CostWindow(client, dict(self.servers))

    def cost(self, path: str, side: str, value: dict[str, Any]) -> None:
        """Record one side (`engine` or `bare`) of a path's cost per unit, and print it."""
        self.results.setdefault("costs", {}).setdefault(path, {})[side] = value
        print(
            f"   {path} {side}: {value.get('client_us')} + {value.get('servers_us')} = "
            f"{value.get('total_us')} CPU-us per unit, {value.get('rate_s')}/s",
            flush=True,
        )

    @property
    def work(self) -> Path:
        return self.out / "work"  # logs, raw profiles, the graph: not committed

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        print(f"\n== {name} ==", flush=True)
        start = time.time()
        try:
            yield
        finally:
            end = time.time()
            self.phases.append(
                {
                    "name": name,
                    "start_s": round(start - self.t0, 2),
                    "end_s": round(end - self.t0, 2),
                    "cpu": self.sampler.window(start, end),
                }
            )
            print(f"   {name}: {end - start:.1f}s", flush=True)

    def engine(self, part: str, settings: Settings | None = None, label: str = "") -> EngineProcess:
        name = label or part
        proc = EngineProcess(part, settings or self.settings, self.work / "logs" / f"{name}.log")
        self.procs[name] = proc
        return proc

    async def started(self, proc: EngineProcess, name: str) -> EngineProcess:
        await proc.start()
        self.sampler.watch(name, proc.pid)
        return proc

    async def profiled(self, name: str, pid: int, seconds: float) -> None:
        """py-spy on a process for `seconds`; its top frames go into the results."""
        if not self.profile or seconds < 1:
            return
        summary = await profiler.record(pid, seconds, self.work / "profiles" / f"{name}.txt")
        self.results.setdefault("profiles", {})[name] = summary


def scale_graph(scale: Scale) -> graph.Graph:
    """The follow graph of a scale."""
    s = scale
    spec = graph.GraphSpec(s.users, s.mean_following, s.zipf_exponent, s.popular_share, s.seed)
    return graph.generate(spec)


async def graph_phase(run: Run, backend: Backend) -> tuple[graph.Graph, Any]:
    s = run.scale
    g = scale_graph(s)
    spec = g.spec
    stats = g.stats(s.celebrity_threshold)
    print(json.dumps({k: v for k, v in stats.items() if k != "spec"}), flush=True)
    fanout = await run.started(run.engine("fanout"), "fanout")
    user_ids, append_s = await graph.load_via_log(
        g, backend, IdGenerator(graph.BENCH_WORKER_ID), run.progress
    )
    wait_s = await graph.wait_applied(run.settings, progress=run.progress)
    graph.save(str(run.work / "graph.npz"), g, user_ids)
    run.results["graph"] = {
        **stats,
        "append_seconds": round(append_s, 2),
        "appended_events_s": round((spec.users + g.edges) / append_s, 1),
        "applied_after_last_append_s": round(wait_s, 2),
        "follows_applied_s": round(g.edges / (append_s + wait_s), 1),
        "via": "log",
    }
    await fanout.stop()  # pipeline phase 1 needs it stopped; the baselines run without it
    return g, user_ids


async def baselines_phase(run: Run, user_ids: Any) -> None:
    s = run.scale
    out: dict[str, Any] = {}
    size = round(sum(map(len, baselines.sample_events(1000))) / 1000)
    out["producer_performance"] = await baselines.producer_performance(
        run.settings, s.kafka_records, size
    )
    print(
        "   ProducerPerformance", out["producer_performance"]["records_s"], "records/s", flush=True
    )
    raw = await asyncio.to_thread(baselines.RawCassandra, run.settings)
    try:
        out["raw_cassandra_writes"] = await asyncio.to_thread(
            raw.writes, user_ids, s.cassandra_writes
        )
        print("   raw inserts", out["raw_cassandra_writes"]["rows_s"], "rows/s", flush=True)
        out["raw_cassandra_reads"] = await asyncio.to_thread(raw.reads, user_ids, s.cassandra_reads)
        print("   raw reads", out["raw_cassandra_reads"]["reads_s"], "reads/s", flush=True)
        out["raw_read_latency"] = await asyncio.to_thread(
            raw.read_latency, user_ids, s.read_rate_s, s.read_latency_s
        )
        p99 = out["raw_read_latency"].get("p99_ms")
        print(f"   raw read p99 at {s.read_rate_s:g}/s: {p99} ms", flush=True)
    finally:
        await asyncio.to_thread(raw.close)
    run.results.setdefault("baselines", {}).update(out)


def read_mix_tweets_s(scale: Scale, reads_s: float) -> float:
    """The tweets/s a read<N> profile posts: its reads are 60% of the mix, posts 10%."""
    return reads_s * scale.rate_factor / 0.6 * 0.1


async def ingest_phase(run: Run, user_ids: Any) -> None:
    own_topics = dataclasses.replace(
        run.settings,
        kafka_topic_prefix=run.settings.kafka_topic_prefix + "ingest.",
        max_in_flight=UNSHED,
    )
    proc = await run.started(run.engine("ingest", own_topics, "ingest_batch"), "ingest")
    try:
        # a warm-up round, unmeasured: the first batches of a new process wait for its new
        # topics' metadata and fill its caches, which a measurement of seconds would count
        warm = await ingest.batch_ingest(proc.url, user_ids, ingest.BATCH * ingest.CONCURRENCY)
        warm.pop("latencies")
        run.results["ingest_batch_warmup"] = warm
        await batch_costs(run, proc, user_ids)
        await posts_costs(run, proc, own_topics, user_ids)
    finally:
        await proc.stop()


async def batch_costs(run: Run, proc: EngineProcess, user_ids: Any) -> None:
    """Batch ingest and the raw producer in COST_ROUNDS alternating rounds, so that whatever
    else the machine runs weighs on both alike (measured minutes apart, their rates swung
    by a fifth between runs): each side's rate and CPU per tweet over all its rounds. Then
    a profile of the ingest process under the same load, unmeasured."""
    s = run.scale
    bodies = ingest.batch_bodies(user_ids, 16, 5)
    engine_tweets = max(ingest.BATCH, s.ingest_tweets // COST_ROUNDS)
    raw_records = max(ingest.BATCH, s.kafka_records // COST_ROUNDS)

    async def batches() -> dict[str, Any]:
        return await ingest.batch_ingest(proc.url, user_ids, engine_tweets, bodies=bodies)

    async def raw() -> dict[str, Any]:
        return await baselines.raw_aiokafka(run.settings, raw_records)

    rounds: dict[str, list[dict[str, Any]]] = {"engine": [], "bare": []}
    for _ in range(COST_ROUNDS):
        rounds["engine"].append(await measured_round(run, {"ingest": proc.pid}, batches, _accepted))
        rounds["bare"].append(await measured_round(run, this_process(), raw, _records))
    loads = {side: [r.pop("load") for r in rounds[side]] for side in rounds}
    batch = run.results["ingest_batch"] = ingest.combined_ingest(loads["engine"])
    raw_out = baselines.combined_raw(loads["bare"])
    run.results.setdefault("baselines", {})["raw_aiokafka"] = raw_out
    for side, client in (("engine", "ingest"), ("bare", "bench")):
        run.cost(
            "batch_ingest", side, {**combined(rounds[side], [client]), "load": loads[side][-1]}
        )
    print(
        f"   batch ingest {batch['tweets_s']} tweets/s (rounds {batch['rounds_tweets_s']}), "
        f"raw aiokafka {raw_out['records_s']} records/s (rounds {raw_out['rounds_records_s']})",
        flush=True,
    )
    if run.profile and s.profile_seconds >= 1:
        done = asyncio.Event()

        async def load() -> None:
            while not done.is_set():
                await batches()

        task = asyncio.create_task(load())
        try:
            await asyncio.sleep(0.5)
            await run.profiled("ingest_batch", proc.pid, s.profile_seconds)
        finally:
            done.set()
            await task


def _accepted(batch: dict[str, Any]) -> int:
    return int(batch["accepted"])


def _records(raw: dict[str, Any]) -> int:
    return int(raw["records"])


async def posts_costs(run: Run, proc: EngineProcess, settings: Settings, user_ids: Any) -> None:
    """Single posts from a closed loop of `cost_clients` clients against the ingest process
    and against the bare handler, in COST_ROUNDS alternating rounds, each side's CPU per post
    over all its rounds."""
    s = run.scale
    bodies = post_bodies(user_ids, s.seed)
    topic = settings.kafka_topic_prefix + "baseline-post"
    await baselines.create_topic(settings, topic)
    bare = BarePostProcess(
        settings.kafka_bootstrap,
        topic,
        settings.kafka_linger_ms,
        run.work / "logs" / "bare_post.log",
    )
    await bare.start()
    run.sampler.watch("bare_post", bare.pid)
    per_round = max(1, s.cost_posts // COST_ROUNDS)
    rounds: dict[str, list[dict[str, Any]]] = {"engine": [], "bare": []}
    try:
        async with (
            post_pool(run, proc.url, bodies) as engine_pool,
            post_pool(run, bare.url, bodies) as bare_pool,
        ):
            before = requests_by_op(await proc.metrics())
            for _ in range(COST_ROUNDS):
                for side, pool, name, pid in (
                    ("engine", engine_pool, "ingest", proc.pid),
                    ("bare", bare_pool, "bare_post", bare.pid),
                ):
                    posts = functools.partial(
                        rawhttp.closed_loop, pool, bodies, per_round, s.cost_clients
                    )
                    rounds[side].append(await measured_round(run, {name: pid}, posts, _ok))
            after = requests_by_op(await proc.metrics())
    finally:
        await bare.stop()
    for side, client in (("engine", "ingest"), ("bare", "bare_post")):
        loads = [r.pop("load") for r in rounds[side]]
        run.cost("post", side, {**combined(rounds[side], [client]), "load": loads[-1]})
    ok = sum(r["units"] for r in rounds["engine"])
    run.results["costs"]["post"]["requests_per_post"] = requests_per_unit(before, after, ok)


@contextlib.asynccontextmanager
async def post_pool(run: Run, url: str, bodies: list[bytes]) -> AsyncIterator[rawhttp.Pool]:
    """The closed loop's connections to one server, warmed with a few hundred posts."""
    s = run.scale
    host, port = url.removeprefix("http://").split(":")
    pool = rawhttp.Pool(host, int(port), s.cost_clients)
    try:
        await rawhttp.closed_loop(pool, bodies, min(500, s.cost_posts), s.cost_clients)
        yield pool
    finally:
        pool.close()


async def measured_round(
    run: Run,
    client: dict[str, int],
    work: Callable[[], Awaitable[dict[str, Any]]],
    units: Callable[[dict[str, Any]], int],
) -> dict[str, Any]:
    """One round of a cost measurement: `work` in a window of its own (the servers' background
    read for ROUND_BACKGROUND_S first), its CPU over `units(load)`, and its load as `load`."""
    window = run.window(client)
    await window.open(ROUND_BACKGROUND_S)
    load = await work()
    window.done()
    return {**await window.close(units(load), wait=False), "load": load}


def _ok(loop: dict[str, Any]) -> int:
    return int(loop["ok"])


def _reads(bare: dict[str, Any]) -> int:
    return int(bare["reads"] - bare["failed"])


def post_bodies(user_ids: Any, seed: int, count: int = 1000) -> list[bytes]:
    """POST /v1/tweets requests as the Locust mix sends them: random authors, seed texts."""
    rng = np.random.default_rng(seed + 7)
    texts = corpus_texts()
    return [
        rawhttp.encode_request(
            "POST",
            "/v1/tweets",
            "127.0.0.1",
            {"author_id": str(int(user_ids[a])), "text": texts[i % len(texts)]},
        )
        for i, a in enumerate(rng.integers(0, user_ids.size, count))
    ]


async def fanout_phase(run: Run, backend: Backend, tweets: pipeline.Tweets) -> None:
    """Pre-load the log, drain it with `timeline fanout` (rows/s, CPU per home row, Cassandra
    requests per tweet), then the bare writer of the same rows, and bytes per home row."""
    s = run.scale
    async with run.phase("pipeline:preload"):
        pre = await pipeline.preload(backend, tweets, s.preload_tweets, run.progress)
        run.results["pipeline_preload"] = pre
        print("   EventLog appends", pre["tweets_s"], "tweets/s", flush=True)
    fanout = run.engine("fanout", label="fanout")
    async with run.phase("pipeline:drain"):
        started = asyncio.Event()
        window = run.window({})
        await window.open()

        def on_start(proc: EngineProcess) -> None:
            run.sampler.watch("fanout", proc.pid)
            window.add_client("fanout", proc.pid)
            started.set()

        drain = asyncio.create_task(
            pipeline.drain(
                fanout, s.preload_tweets, pre["expected_home_rows"], run.progress, on_start
            )
        )
        await asyncio.wait(
            [drain, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED"
        )
        await asyncio.sleep(2.0)
        if not drain.done():
            await run.profiled("fanout_drain", fanout.pid, s.profile_seconds)
        result = run.results["pipeline_throughput"] = await drain
        window.done()
        print("   fan-out", result["rows_s"], "home rows/s", flush=True)
        run.cost("fanout", "engine", await window.close(result["window_home_rows"]))
        costs = run.results["costs"]["fanout"]
        costs["requests_per_tweet"] = result["cassandra_requests_per_tweet"]
        print(
            "   Cassandra requests per tweet", costs["requests_per_tweet"]["per_unit"], flush=True
        )
    async with run.phase("fanout:bare"):
        fresh = pipeline.Tweets(tweets.graph, tweets.user_ids, s.celebrity_threshold, s.seed)
        groups = pipeline.fanout_groups(
            fresh, s.preload_tweets, run.settings.fanout_batch_max_records
        )
        raw = await asyncio.to_thread(baselines.RawCassandra, run.settings)
        try:
            bare_window = run.window(this_process())
            await bare_window.open()
            bare = await asyncio.to_thread(raw.bare_fanout, groups)
            bare_window.done()
            run.cost("fanout", "bare", {**await bare_window.close(bare["rows"]), "load": bare})
            costs["bytes_per_row"] = await bytes_per_row(
                run, raw, {"engine": ("home_timeline", result["home_rows"]),
                           "bare": (baselines.BARE_TABLE, bare["rows"])},
            )  # fmt: skip
            print("   bytes per home row", costs["bytes_per_row"], flush=True)
        finally:
            await asyncio.to_thread(raw.close)


async def bytes_per_row(
    run: Run, raw: baselines.RawCassandra, tables: dict[str, tuple[str, int]]
) -> dict[str, float | None]:
    """Bytes on disk per row of each (table, rows written) after flushing them and waiting
    for Cassandra to be idle (compaction done); None when the data directory is not local."""
    names = [t for t, _ in tables.values()]
    await asyncio.to_thread(raw.flush, names)
    try:
        await asyncio.sleep(3.0)
        await wait_idle(run.servers.get("cassandra"))
    finally:
        await asyncio.to_thread(raw.unflush, names)
    data = InfraSettings.from_env().data("cassandra") / "data"
    out: dict[str, float | None] = {}
    for side, (table, rows) in tables.items():
        size = table_bytes(data, run.settings.cassandra_keyspace, table)
        out[side] = round(size / rows, 1) if size and rows else None
    return out


async def pages_phase(run: Run, user_ids: Any) -> None:
    """Home pages (count 20) from a closed loop against `timeline readers`, and bare reads of
    the same partitions, LIMIT 20, in COST_ROUNDS alternating rounds: CPU per page and
    Cassandra requests per page.

    The warm-up reads one page of each user first (on both sides), so the measured pages are
    the steady state (what the readers hold of a user was read before); the warm-up's own
    requests per page are reported apart as the cost of a user's first page in a process."""
    s = run.scale
    rng = np.random.default_rng(s.seed + 11)
    users = [int(user_ids[i]) for i in rng.integers(0, user_ids.size, s.cost_pages)]
    first = list(dict.fromkeys(users))  # each user once, in order
    unshed = dataclasses.replace(run.settings, max_in_flight=UNSHED)
    readers = await run.started(run.engine("readers", unshed, "readers_pages"), "readers")
    raw = await asyncio.to_thread(baselines.RawCassandra, run.settings)
    per_round = max(1, len(users) // COST_ROUNDS)
    rounds: dict[str, list[dict[str, Any]]] = {"engine": [], "bare": []}
    try:
        requests = [
            rawhttp.encode_request("GET", f"/v1/users/{u}/home_timeline", "127.0.0.1")
            for u in users
        ]
        warm = [
            rawhttp.encode_request("GET", f"/v1/users/{u}/home_timeline", "127.0.0.1")
            for u in first
        ]
        pool = rawhttp.Pool("127.0.0.1", readers.port, s.cost_clients)
        try:
            cold = requests_by_op(await readers.metrics())
            warmed = await rawhttp.closed_loop(pool, warm, len(warm), s.cost_clients)
            before = requests_by_op(await readers.metrics())
            await asyncio.to_thread(raw.page_reads, first)  # the same warm-up
            for i in range(COST_ROUNDS):
                part = slice(i * per_round, (i + 1) * per_round)
                pages = functools.partial(
                    rawhttp.closed_loop, pool, requests[part], per_round, s.cost_clients
                )
                reads = functools.partial(asyncio.to_thread, raw.page_reads, users[part])
                engine_side = {"readers": readers.pid}
                rounds["engine"].append(await measured_round(run, engine_side, pages, _ok))
                rounds["bare"].append(await measured_round(run, this_process(), reads, _reads))
            after = requests_by_op(await readers.metrics())
        finally:
            pool.close()
    finally:
        await readers.stop()
        await asyncio.to_thread(raw.close)
    for side, client in (("engine", ["readers"]), ("bare", this_process())):
        loads = [r.pop("load") for r in rounds[side]]
        run.cost("page", side, {**combined(rounds[side], client), "load": loads[-1]})
    page = run.results["costs"]["page"]
    ok = sum(r["units"] for r in rounds["engine"])
    page["requests_per_page"] = requests_per_unit(before, after, ok)
    page["requests_per_first_page"] = requests_per_unit(cold, before, warmed["ok"])
    for key in ("requests_per_page", "requests_per_first_page"):
        print(f"   Cassandra {key.replace('_', ' ')}", page[key]["per_unit"],
              page[key]["by_op_per_unit"], flush=True)  # fmt: skip


HELD_LADDER_S = (250.0, 500.0, 1000.0, 2000.0)
"""Rates (tweets/s) the pipeline is tried at, in order, below the goal rate; the first one it
does not hold ends the climb."""


def held_ladder(goal_s: float) -> list[float]:
    """The rates to try: the ladder's steps below the goal, then the goal."""
    return [rate for rate in HELD_LADDER_S if rate < goal_s] + [goal_s]


async def pipeline_phase(run: Run, backend: Backend, tweets: pipeline.Tweets) -> None:
    s = run.scale
    fanout = run.procs["fanout"]
    steps: list[dict[str, Any]] = []
    for rate in held_ladder(s.e2e_rate_s):
        async with LagProbe(run.settings, "timelines", (GRAPH_TOPIC, TWEETS_TOPIC)) as lag:
            await drained(lag)  # each rate starts with the fan-out caught up
        async with run.phase(f"pipeline:e2e{rate:g}"):
            e2e_task = asyncio.create_task(
                pipeline.steady(
                    backend, fanout, tweets, rate, s.e2e_s, s.watched_followers,
                    s.watch_poll_ms, run.progress,
                )
            )  # fmt: skip
            if rate == s.e2e_rate_s:
                await asyncio.sleep(2.0)
                await run.profiled("fanout_e2e", fanout.pid, min(s.profile_seconds, s.e2e_s - 3))
            e2e = await e2e_task
        e2e["held"] = all(report.e2e_checks(e2e).values())
        steps.append(e2e)
        print(f"   {rate:g}/s: publish-to-visible", e2e["visible"], "lost", e2e["lost"],
              "held" if e2e["held"] else "not held", "; the fan-out's own",
              e2e["fanout_own"], flush=True)  # fmt: skip
        if not e2e["held"]:
            break
    run.results["pipeline_e2e"] = steps[-1]
    held_rates = [step["rate_s"] for step in steps if step["held"]]
    run.results["pipeline_held"] = {
        "seconds": s.e2e_s,
        "goal_rate_s": s.e2e_rate_s,
        "held_rate_s": max(held_rates, default=0.0),
        "steps": [{k: step[k] for k in ("rate_s", "held", "visible", "lost")} for step in steps],
    }
    for rate in (s.read_rate_s, s.read_low_rate_s):
        async with LagProbe(run.settings, "timelines", (GRAPH_TOPIC, TWEETS_TOPIC)) as lag:
            await drained(lag)  # the fan-out load beside the reads is the profile's, no backlog
        async with run.phase(f"pipeline:reads{rate:g}_beside_fanout"):
            beside = await pipeline.reads_beside_fanout(
                run.settings, fanout, tweets, rate, read_mix_tweets_s(s, rate), s.read_latency_s
            )
            baselines = run.results.setdefault("baselines", {})
            baselines.setdefault("raw_home_reads_beside_fanout", {})[f"{rate:g}"] = beside
            p99 = beside.get("p99_ms")
            print(f"   raw home read p99 at {rate:g}/s beside the fan-out: {p99} ms", flush=True)


async def http_phase(run: Run, profiles: list[str]) -> None:
    ingest_proc = await run.started(run.engine("ingest"), "ingest")
    readers = await run.started(run.engine("readers"), "readers")
    fanout = run.procs.get("fanout") or run.engine("fanout")
    if fanout.proc is None:
        await run.started(fanout, "fanout")
    reads = f"read{run.scale.read_rate_s:g}"
    profiled = {
        reads: (f"readers_{reads}", readers.pid),
        "posts3085": ("ingest_posts", ingest_proc.pid),
    }
    # The ingest process just started, and its checks group replays the whole log first: a
    # profile run beside that replay measured the replay (0.5 cores of ingest in read50).
    topics = PROJECTION_TOPICS[CHECKS_PROJECTION]
    async with LagProbe(run.settings, CHECKS_PROJECTION, topics) as checks:
        waited = await drained(checks)
    print(f"   the new ingest process's checks group caught up in {waited} s", flush=True)
    async with LagProbe(run.settings, "timelines", (GRAPH_TOPIC, TWEETS_TOPIC)) as lag:
        await drained(lag)  # each profile starts with the fan-out caught up

        async def after(result: dict[str, Any]) -> None:
            result["fanout_drain_s"] = await drained(lag)

        out = await run_profiles(run, profiles, ingest_proc.url, readers.url, profiled, after)
    run.results["http"] = out


async def run_profiles(
    run: Run,
    profiles: list[str],
    write_url: str,
    read_url: str,
    profiled: Mapping[str, tuple[str, int | None]],
    after: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Each Locust profile in a phase of its own; their results by name. py-spy on the
    process `profiled` names for a profile (label, pid), and `after` on its result in the
    phase."""
    out: dict[str, Any] = {}
    for name in profiles:
        async with run.phase(f"http:{name}"):
            task = asyncio.create_task(
                http_load.run_profile(
                    name, run.scale, write_url, read_url, run.work / "graph.npz",
                    run.out / "locust", run.sampler,
                )
            )  # fmt: skip
            label, pid = profiled.get(name, ("", None))
            if pid is not None:
                await asyncio.sleep(3.0)
                seconds = min(run.scale.profile_seconds, run.scale.profile_s - 4)
                await run.profiled(label, pid, seconds)
            out[name], _ = await task
            if after is not None:
                await after(out[name])
        print(
            f"   {name}: offered {out[name]['offered_s']}/s, ok {out[name]['ok_s']}/s, "
            f"failed {out[name]['failed']}, not sent {out[name]['not_sent']}",
            flush=True,
        )
    return out


async def drained(lag: LagProbe, timeout_s: float = 300.0) -> float | None:
    """Seconds until the fan-out has committed everything (None if not within the timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if await lag.lag() == 0:
            return round(time.perf_counter() - started, 2)
        await asyncio.sleep(0.5)
    return None


async def run_all(run: Run, phases: list[str], profiles: list[str], keep: bool) -> None:
    for name in ("kafka", "cassandra"):
        pid = infra.server_pid(name)
        run.sampler.watch(name, pid)
        if pid is not None:
            run.servers[name] = pid
    run.sampler.watch("bench", os.getpid())
    run.sampler.start()
    backend = open_backend(run.settings, Metrics())
    try:
        await backend.start()  # creates the keyspace, the schema and the topics
        async with run.phase("graph"):
            g, user_ids = await graph_phase(run, backend)
        if "baselines" in phases:
            async with run.phase("baselines"):
                await baselines_phase(run, user_ids)
        if "ingest" in phases:
            async with run.phase("ingest"):
                await ingest_phase(run, user_ids)
        tweets = pipeline.Tweets(g, user_ids, run.scale.celebrity_threshold, run.scale.seed)
        if "fanout" in phases:
            await fanout_phase(run, backend, tweets)
        if "pages" in phases:
            async with run.phase("pages"):
                await pages_phase(run, user_ids)
        if "pipeline" in phases:
            await pipeline_phase(run, backend, tweets)
        if "http" in phases:
            await http_phase(run, profiles)
    finally:
        for proc in run.procs.values():
            await proc.stop()
        await backend.stop()
        await run.sampler.stop()
        if not keep:
            await drop_run(run.settings)
            print(f"\ndropped keyspace {run.settings.cassandra_keyspace} and topics "
                  f"{run.settings.kafka_topic_prefix}*", flush=True)  # fmt: skip


async def target_run(run: Run, url: str, pid: int | None, profiles: list[str]) -> None:
    """The graph through the API of the engine at `url`, then the Locust profiles against
    it; its process's CPU when `pid` is given (py-spy too, unless --no-profile)."""
    run.sampler.watch("bench", os.getpid())
    if pid is not None:
        run.sampler.watch("target", pid)
    run.sampler.start()
    try:
        async with run.phase("graph"):
            g = scale_graph(run.scale)
            stats = g.stats(run.scale.celebrity_threshold)
            prefix = f"b{run.settings.cassandra_keyspace[-4:]}_"  # the run's own handles
            user_ids, load_s = await graph.load_via_http(
                g, url, progress=run.progress, prefix=prefix
            )
            graph.save(str(run.work / "graph.npz"), g, user_ids)
            run.results["graph"] = {**stats, "append_seconds": round(load_s, 2), "via": "http"}
        reads = f"read{run.scale.read_rate_s:g}"
        profiled = {name: (f"target_{name}", pid) for name in (reads, "posts3085")}
        run.results["http"] = await run_profiles(run, profiles, url, url, profiled)
    finally:
        await run.sampler.stop()


def selected_phases(arg: str) -> list[str]:
    """The phases named (comma-separated), in run order, with `fanout` added when a phase
    that reads its home timelines is named; an unknown name is an error."""
    named = {p for p in arg.split(",") if p}
    unknown = named - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases {sorted(unknown)}; choose from {','.join(PHASES)}")
    if named & set(NEEDS_FANOUT):
        named.add("fanout")
    return [p for p in PHASES if p in named]


def engine_version() -> str:
    """The commit the engine under test was run from, `-dirty` when the tree had changes."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "--scale", choices=("small", "medium", "full"), help="default: BENCH_SCALE or full"
    )
    p.add_argument("--users", type=int, help="users in the follow graph")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated subset of " + ",".join(PHASES)
    )
    p.add_argument(
        "--profiles", help="Locust profiles to run (default: read<N>, " + ",".join(PROFILES) + ")"
    )
    p.add_argument("--no-profile", action="store_true", help="skip py-spy")
    p.add_argument("--keep", action="store_true", help="leave the keyspace and topics in place")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--target",
        help="an engine already running on this machine, e.g. http://127.0.0.1:8080: the "
        "Locust profiles against it (the http phase alone)",
    )
    p.add_argument("--pid", type=int, help="the target engine's process, for its CPU")
    return p


def checked_target(args: argparse.Namespace) -> str | None:
    """The --target URL without its trailing slash, or None; SystemExit when it is not on
    this machine, or when phases other than http were asked of it."""
    if args.target is None:
        if args.pid is not None:
            raise SystemExit("--pid names the process of a --target")
        return None
    if not args.target.startswith(("http://127.", "http://localhost")):
        raise SystemExit("--target must be on this machine (http://127.x.x.x or localhost)")
    if args.phases != ",".join(PHASES) and set(args.phases.split(",")) - {"http", "graph"}:
        raise SystemExit(
            "--target runs the http phase only: the other phases start their own processes "
            "beside bare clients on the local Kafka and Cassandra"
        )
    return str(args.target).rstrip("/")


async def main_async(args: argparse.Namespace) -> Path:
    scale = scale_from_env(name=args.scale, users=args.users, seed=args.seed)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / stamp
    (out / "work").mkdir(parents=True)
    print(f"bench: scale {scale.name}, results in {out}", flush=True)
    target = checked_target(args)
    if target is None:
        await asyncio.to_thread(infra.ensure_up, progress=not args.no_progress)
    settings = bench_settings(new_run_id(), scale)
    run = Run(scale, settings, out, not args.no_progress, not args.no_profile)
    phases = selected_phases(args.phases)
    profiles = (
        [p for p in args.profiles.split(",") if p]
        if args.profiles
        else [*read_profiles(scale), *PROFILES]
    )
    run.results["run"] = {
        "started": stamp,
        "command": shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        "env": {k: v for k, v in os.environ.items() if k.startswith("BENCH_")},
        "scale": dataclasses.asdict(scale),
        "t0_wall": run.t0,
        "engine": engine_version(),
        "keyspace": settings.cassandra_keyspace,
        "topic_prefix": settings.kafka_topic_prefix,
        "kafka_partitions": settings.kafka_partitions,
        "machine": machine(),
    }
    if target is not None:
        run.results["run"]["target"] = target
    try:
        if target is None:
            await run_all(run, phases, profiles, args.keep)
        else:
            await target_run(run, target, args.pid, profiles)
    finally:
        run.results["phases"] = run.phases
        run.results["cpu_series"] = run.sampler.series(run.t0)
        report.write(out, run.results)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = asyncio.run(main_async(args))
    print(f"\nresults: {out}\nsummary: {out / 'SUMMARY.md'}")
    return 0
