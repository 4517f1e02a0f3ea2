"""A skewed follow graph, deterministic by seed, loaded through the log or the HTTP API.

Each user follows a log-normally distributed number of accounts (mean `mean_following`).
A share of the follow edges (`popular_share`) picks its target by popularity, a Zipf law
over a seeded ranking of the users, so a few accounts collect very many followers; the
rest pick uniformly. Self-follows and duplicates are dropped.

    python -m bench.graph --users 100000 --stats            # sizes only, loads nothing
    python -m bench.graph --users 20000 --via log           # into the engine of TIMELINE_*
    python -m bench.graph --users 2000 --via http --url http://127.0.0.1:8080

Loading through the log appends UserRegistered and Followed events with the engine's own
EventLog after claiming each handle in its registry (so ingest knows the users), then
waits until the fan-out group has applied every graph event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import numpy as np
from tqdm import tqdm

from engine.config import Settings
from engine.events import GRAPH_TOPIC, Event, Followed, UserRegistered
from engine.ids import IdGenerator, id_ms
from engine.ports import Backend
from engine.records import User

BENCH_WORKER_ID = 1023  # the Snowflake worker of ids the benchmark issues itself
MAX_FOLLOWING = 5000
USER_CHUNK = 500
EDGE_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """What to generate."""

    users: int = 100_000
    mean_following: float = 40.0
    zipf_exponent: float = 1.0
    popular_share: float = 0.3
    seed: int = 2010


@dataclass(frozen=True)
class Graph:
    """Edges as two index arrays (follower -> followee), shuffled in load order."""

    spec: GraphSpec
    follower: np.ndarray
    followee: np.ndarray

    @property
    def edges(self) -> int:
        return int(self.follower.size)

    def follower_counts(self) -> np.ndarray:
        return np.bincount(self.followee, minlength=self.spec.users)

    def audiences(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, followers): user i's followers are followers[offsets[i]:offsets[i + 1]]."""
        order = np.argsort(self.followee, kind="stable")
        offsets = np.zeros(self.spec.users + 1, dtype=np.int64)
        np.cumsum(self.follower_counts(), out=offsets[1:])
        return offsets, self.follower[order]

    def home_rows(self, celebrity_threshold: int) -> np.ndarray:
        """Home-timeline rows one tweet of each user makes: followers + its own, 0 if celebrity."""
        counts = self.follower_counts()
        return np.where(counts > celebrity_threshold, 0, counts + 1)

    def stats(self, celebrity_threshold: int) -> dict[str, Any]:
        counts = self.follower_counts()
        following = np.bincount(self.follower, minlength=self.spec.users)
        top = np.sort(counts)[::-1]
        return {
            "spec": asdict(self.spec),
            "users": self.spec.users,
            "edges": self.edges,
            "mean_following": round(float(following.mean()), 2),
            "max_following": int(following.max()),
            "median_followers": float(np.median(counts)),
            "p99_followers": float(np.percentile(counts, 99)),
            "top_followers": [int(c) for c in top[:10]],
            "celebrity_threshold": celebrity_threshold,
            "celebrities": int((counts > celebrity_threshold).sum()),
            "mean_fanout": round(float(self.home_rows(celebrity_threshold).mean()), 2),
        }


def generate(spec: GraphSpec) -> Graph:
    """The graph of a spec; the same seed gives the same edges in the same order."""
    n = spec.users
    rng = np.random.default_rng(spec.seed)
    sigma = 1.0
    mu = np.log(spec.mean_following) - sigma**2 / 2
    out = np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, min(n - 1, MAX_FOLLOWING))
    follower = np.repeat(np.arange(n, dtype=np.int64), out.astype(np.int64))
    popular = rng.random(follower.size) < spec.popular_share
    followee = rng.integers(0, n, follower.size)
    rank_weight = 1.0 / np.arange(1, n + 1) ** spec.zipf_exponent
    by_rank = rng.permutation(n)  # who is most popular is part of the seed
    picks = rng.choice(n, size=int(popular.sum()), p=rank_weight / rank_weight.sum())
    followee[popular] = by_rank[picks]
    keys = np.unique(follower[follower != followee] * n + followee[follower != followee])
    keys = keys[rng.permutation(keys.size)]
    return Graph(spec, (keys // n).astype(np.int32), (keys % n).astype(np.int32))


def handle_of(index: int, prefix: str = "u") -> str:
    """The handle of user `index` (unique in a run's keyspace; another prefix for another
    run on the same engine)."""
    return f"{prefix}{index}"


def issue_user_ids(users: int, ids: IdGenerator) -> np.ndarray:
    """Snowflake ids for the users, increasing with their index."""
    return np.array([ids.next_id() for _ in range(users)], dtype=np.int64)


async def load_via_log(
    graph: Graph, backend: Backend, ids: IdGenerator, progress: bool = True
) -> tuple[np.ndarray, float]:
    """Claim handles, append every user and follow to the log; (user ids, seconds taken)."""
    started = time.perf_counter()
    user_ids = issue_user_ids(graph.spec.users, ids)
    total = graph.spec.users + graph.edges
    with tqdm(total=total, desc="graph -> log", unit="ev", disable=not progress) as bar:
        for lo in range(0, graph.spec.users, USER_CHUNK):
            users = [
                _user(i, int(user_ids[i])) for i in range(lo, min(lo + USER_CHUNK, len(user_ids)))
            ]
            events = [_registered(u, ids) for u in users]
            claims = await asyncio.gather(*(backend.registry.claim_handle(e) for e in events))
            if any(c.user_id != e.user_id for c, e in zip(claims, events, strict=True)):
                raise RuntimeError("a benchmark handle was already taken in this keyspace")
            await _append(backend, events)
            await asyncio.gather(*(backend.registry.mark_registered(e) for e in events))
            bar.update(len(users))
        for lo in range(0, graph.edges, EDGE_CHUNK):
            hi = min(lo + EDGE_CHUNK, graph.edges)
            now = time.time_ns() // 1000
            follows = [
                Followed(ids.next_id(), now, int(user_ids[f]), int(user_ids[t]))
                for f, t in zip(graph.follower[lo:hi], graph.followee[lo:hi], strict=True)
            ]
            await _append(backend, follows)
            bar.update(len(follows))
    return user_ids, time.perf_counter() - started


def _user(index: int, user_id: int) -> User:
    return User(user_id, handle_of(index), f"Bench user {index}", id_ms(user_id))


def _registered(user: User, ids: IdGenerator) -> UserRegistered:
    return UserRegistered(
        ids.next_id(), time.time_ns() // 1000, user.id, user.handle, user.display_name
    )


async def _append(backend: Backend, events: Sequence[Event]) -> None:
    outcomes = await backend.log.append_many(events)
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(events)} appends failed: {errors[0]!r}")


async def load_via_http(
    graph: Graph, url: str, concurrency: int = 64, progress: bool = True, prefix: str = "u"
) -> tuple[np.ndarray, float]:
    """POST every user (handles `prefix` + index: give an engine that already holds a
    run's users another prefix) and PUT every follow through the API; (user ids, seconds
    taken)."""
    started = time.perf_counter()
    user_ids = np.zeros(graph.spec.users, dtype=np.int64)
    slots = asyncio.Semaphore(concurrency)
    total = graph.spec.users + graph.edges
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as http:
        with tqdm(total=total, desc="graph -> http", unit="req", disable=not progress) as bar:

            async def register(i: int) -> None:
                body = {"handle": handle_of(i, prefix), "display_name": f"Bench user {i}"}
                async with slots, http.post("/v1/users", json=body) as r:
                    if r.status != 201:
                        raise RuntimeError(f"POST /v1/users: {r.status} {await r.text()}")
                    user_ids[i] = int((await r.json())["id"])
                bar.update(1)

            async def follow(f: int, t: int) -> None:
                path = f"/v1/users/{user_ids[f]}/following/{user_ids[t]}"
                async with slots, http.put(path) as r:
                    if r.status != 200:
                        raise RuntimeError(f"PUT {path}: {r.status} {await r.text()}")
                bar.update(1)

            for lo in range(0, graph.spec.users, EDGE_CHUNK):
                await asyncio.gather(
                    *map(register, range(lo, min(lo + EDGE_CHUNK, graph.spec.users)))
                )
            for lo in range(0, graph.edges, EDGE_CHUNK):
                pairs = zip(
                    graph.follower[lo : lo + EDGE_CHUNK],
                    graph.followee[lo : lo + EDGE_CHUNK],
                    strict=True,
                )
                await asyncio.gather(*(follow(int(f), int(t)) for f, t in pairs))
    return user_ids, time.perf_counter() - started


async def wait_applied(settings: Settings, timeout_s: float = 7200, progress: bool = True) -> float:
    """Wait until the fan-out group has committed every graph event; the seconds waited."""
    from bench.stack import LagProbe

    started = time.perf_counter()
    async with LagProbe(settings, "timelines", (GRAPH_TOPIC,)) as probe:
        done, end = await probe.positions()
        with tqdm(
            total=end, initial=done, desc="fan-out applies graph", unit="ev", disable=not progress
        ) as bar:
            while done < end:
                if time.perf_counter() - started > timeout_s:
                    raise TimeoutError(
                        f"fan-out applied {done} of {end} graph events in {timeout_s}s"
                    )
                await asyncio.sleep(0.5)
                done, end = await probe.positions()
                bar.total = end
                bar.update(done - bar.n)
    return time.perf_counter() - started


def save(path: str, graph: Graph, user_ids: np.ndarray) -> None:
    """The graph and the ids it was loaded with, for the Locust scenarios and the pipeline."""
    arrays: dict[str, Any] = {k: np.array(v) for k, v in asdict(graph.spec).items()}
    arrays.update(follower=graph.follower, followee=graph.followee, user_ids=user_ids)
    np.savez(path, **arrays)


def load(path: str) -> tuple[Graph, np.ndarray]:
    """The inverse of save()."""
    data = np.load(path)
    spec = GraphSpec(**{k: data[k].item() for k in GraphSpec.__dataclass_fields__})
    return Graph(spec, data["follower"], data["followee"]), data["user_ids"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__.split("\n")[0])
    spec = GraphSpec()
    p.add_argument("--users", type=int, default=spec.users)
    p.add_argument("--mean-following", type=float, default=spec.mean_following)
    p.add_argument("--zipf-exponent", type=float, default=spec.zipf_exponent)
    p.add_argument("--popular-share", type=float, default=spec.popular_share)
    p.add_argument("--seed", type=int, default=spec.seed)
    p.add_argument("--celebrity-threshold", type=int, help="default: TIMELINE_CELEBRITY_THRESHOLD")
    p.add_argument("--stats", action="store_true", help="print the graph's sizes and exit")
    p.add_argument("--via", choices=("log", "http"), default="log")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the API, for --via http")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the fan-out")
    p.add_argument("--save", help="write the graph and its user ids to this .npz file")
    return p


async def _main(args: argparse.Namespace) -> int:
    import json

    from engine.adapters import open_backend
    from engine.metrics import Metrics

    settings = Settings.from_env()
    threshold = args.celebrity_threshold or settings.celebrity_threshold
    spec = GraphSpec(
        args.users, args.mean_following, args.zipf_exponent, args.popular_share, args.seed
    )
    graph = generate(spec)
    print(json.dumps(graph.stats(threshold), indent=2))
    if args.stats:
        return 0
    if args.via == "http":
        user_ids, seconds = await load_via_http(graph, args.url)
    else:
        backend = open_backend(settings, Metrics())
        async with backend:
            user_ids, seconds = await load_via_log(graph, backend, IdGenerator(BENCH_WORKER_ID))
    print(f"loaded {spec.users} users and {graph.edges} follows in {seconds:.1f}s")
    if args.save:
        save(args.save, graph, user_ids)
    if not args.no_wait:
        waited = await wait_applied(settings)
        print(f"the fan-out applied the graph {waited:.1f}s after the last append")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
