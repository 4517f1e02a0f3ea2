"""Search at scale: a corpus loaded through the SearchIndex port, then query latency and rate.

Builds a corpus of tweets from the project's texts (bench/corpus: its texts, and windows of
its words, at most 140 characters; random authors; a long tail of rare words; hashtags from
a Zipf-ranked pool; some mentions), with ids spread evenly over the last `--days` days, and
loads it with the adapter's own `add` in chunks (Cassandra: every row of a chunk in flight at
once, up to the session's limit). Then it asks a mix of queries through the same parsing as the API
(readers/search.py) and the port's `search`, one at a time for latency (p50/p99 per kind)
and from `--clients` concurrent clients for throughput, on each backend asked for.

    python -m bench.search --tweets 1000000 --backend both

Results: printed, and bench/results/search-<UTC timestamp>/results.json. Cassandra runs in a
keyspace `bench_search_<id>` of its own, dropped at the end (`--keep` leaves it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.config import RESULTS_DIR
from bench.tweet_texts import corpus_texts, corpus_words
from engine.config import Settings
from engine.errors import StoreUnavailable, TimelineError
from engine.ids import id_ms, make_id
from engine.metrics import Metrics
from engine.ports import SearchEntry, SearchIndex
from engine.records import Mention, PageQuery, Tweet
from engine.terms import tweet_terms
from readers.search import parse_query

CHUNK = 2000
BAR: dict[str, Any] = {"mininterval": 1.0, "file": sys.stderr}
USERS = 100_000
TAGS = 500
LONG_TAIL = 300_000  # distinct rare words drawn by a Zipf law
PAGE = 20
KINDS = (
    "one_common",
    "one_mid",
    "one_rare",
    "two_common",
    "common_rare",
    "hashtag",
    "hashtag_word",
    "no_match",
    "deep_page",
)


@dataclass
class Corpus:
    """Deterministic tweets by seed, in chunks of CHUNK entries, oldest first."""

    size: int
    days: float
    seed: int = 2010
    chunks: list[list[SearchEntry]] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.sentences = list(corpus_texts())
        self.words = [w for w in corpus_words() if len(w) >= 3]
        self.tags = list(dict.fromkeys(w for w in self.words if w.isalpha() and len(w) >= 4))
        rng.shuffle(self.tags)
        self.tags = self.tags[:TAGS]
        self.tag_cum = list(accumulate(1 / (rank + 1) for rank in range(len(self.tags))))
        self.tail_cum = list(accumulate(1 / (rank + 1) ** 1.1 for rank in range(LONG_TAIL)))
        self.end_ms = time.time_ns() // 1_000_000 - 3_600_000
        self.start_ms = self.end_ms - int(self.days * 86_400_000)

    def build(self) -> None:
        """Make every tweet and its terms (once, shared by every backend of a run)."""
        rng = random.Random(self.seed)
        step = (self.end_ms - self.start_ms) / max(self.size, 1)
        ts_us = time.time_ns() // 1000
        with tqdm(total=self.size, unit="tweet", desc="corpus", **BAR) as bar:
            for start in range(0, self.size, CHUNK):
                chunk = []
                for i in range(start, min(start + CHUNK, self.size)):
                    tweet = self._tweet(rng, make_id(self.start_ms + int(i * step), 1, i % 4096))
                    chunk.append(SearchEntry(tweet, tweet_terms(tweet), ts_us))
                self.chunks.append(chunk)
                bar.update(len(chunk))

    def counts(self, tweets: int) -> Counter[str]:
        """How many of the first `tweets` tweets each term is in."""
        counts: Counter[str] = Counter()
        for chunk in self.chunks[: math.ceil(tweets / CHUNK)]:
            for entry in chunk:
                counts.update(entry.terms)
        return counts

    def _tweet(self, rng: random.Random, tweet_id: int) -> Tweet:
        text = rng.choice(self.sentences) if rng.random() < 0.3 else self._window(rng)
        if rng.random() < 0.5:
            tail = rng.choices(range(LONG_TAIL), cum_weights=self.tail_cum)[0]
            text = _fit(text, f"{self.words[tail % len(self.words)][:5]}{tail}")
        tags = tuple(
            dict.fromkeys(rng.choices(self.tags, cum_weights=self.tag_cum, k=_tag_count(rng)))
        )
        for tag in tags:
            text = _fit(text, f"#{tag}")
        mentions: tuple[Mention, ...] = ()
        if rng.random() < 0.1:
            uid = rng.randrange(USERS)
            text, mentions = _fit(f"@u{uid}", text), (Mention(uid, f"u{uid}"),)
        author = rng.randrange(USERS)
        tags = tuple(t for t in tags if f"#{t}" in text)
        return Tweet(tweet_id, author, f"u{author}", text, id_ms(tweet_id), None, tags, mentions)

    def _window(self, rng: random.Random) -> str:
        start, text = rng.randrange(len(self.words)), ""
        for word in self.words[start : start + rng.randint(4, 20)]:
            if len(text) + len(word) + 1 > 120:
                break
            text = f"{text} {word}".strip()
        return text or self.words[start]


def _tag_count(rng: random.Random) -> int:
    roll = rng.random()
    return 2 if roll < 0.05 else 1 if roll < 0.3 else 0


def _fit(text: str, extra: str) -> str:
    joined = f"{text} {extra}"
    return joined if len(joined) <= 140 else text


def queries(
    corpus: Corpus, counts: Counter[str], per_kind: int, seed: int
) -> dict[str, list[tuple[str, PageQuery]]]:
    """per_kind queries of each kind, from the words counted in the tweets loaded."""
    rng = random.Random(seed)
    ranked = counts.most_common()
    plain = [(w, n) for w, n in ranked if w[0] not in "#@" and not w.isdigit()]
    common = [w for w, _ in plain[:50]]
    mid = [w for w, n in plain if 500 <= n <= 5000] or common
    rare = [w for w, n in plain if 1 <= n <= 5] or mid
    tags = [w for w, _ in ranked if w.startswith("#")][:100]
    half = make_id((corpus.start_ms + corpus.end_ms) // 2, 0, 0)
    first = PageQuery(PAGE)
    made: dict[str, list[tuple[str, PageQuery]]] = {k: [] for k in KINDS}
    for _ in range(per_kind):
        c1, c2 = rng.sample(common, 2)
        made["one_common"].append((c1, first))
        made["one_mid"].append((rng.choice(mid), first))
        made["one_rare"].append((rng.choice(rare), first))
        made["two_common"].append((f"{c1} {c2}", first))
        made["common_rare"].append((f"{c1} {rng.choice(rare)}", first))
        made["hashtag"].append((rng.choice(tags), first))
        made["hashtag_word"].append((f"{rng.choice(tags[:20])} {c1}", first))
        made["no_match"].append((f"жоқ{uuid.uuid4().hex[:8]}", first))
        made["deep_page"].append((c1, PageQuery(PAGE, max_id=half)))
    return made


@asynccontextmanager
async def search_index(kind: str, args: argparse.Namespace) -> AsyncIterator[SearchIndex]:
    """A started search adapter on an empty store of this backend."""
    metrics = Metrics()
    if kind == "embedded":
        from engine.adapters.embedded import EmbeddedBackend

        with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
            backend = EmbeddedBackend(Settings.from_env({}, data_dir=folder), metrics)
            await backend.store_db.start()
            try:
                yield backend.search
            finally:
                await backend.store_db.stop()
        return
    from deploy.local import infra
    from engine.adapters.cassandra import CassandraSearch, CqlSession

    infra.ensure_up()
    host, port = infra.cassandra_contact()
    keyspace = f"bench_search_{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {},
        cassandra_hosts=(host,),
        cassandra_port=port,
        cassandra_keyspace=keyspace,
        cassandra_request_timeout_s=60.0,  # schema changes on a busy 2-core machine
        cassandra_max_in_flight=args.max_in_flight,
    )
    cql = CqlSession(settings, metrics)
    for attempt in range(5):  # a busy 2-core machine can miss one connect
        try:
            await cql.start()
            break
        except TimelineError:
            if attempt == 4:
                raise
            await asyncio.sleep(5)
    try:
        yield CassandraSearch(cql)
    finally:
        if not args.keep:
            await asyncio.to_thread(
                cql.session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=300
            )
        await cql.stop()


async def load(
    index: SearchIndex, corpus: Corpus, budget_s: float, in_flight: int
) -> dict[str, Any]:
    """Add the corpus, `in_flight` chunks at a time, until done or over the time budget."""
    loaded, retries, started = 0, 0, time.perf_counter()
    slots = asyncio.Semaphore(in_flight)

    async def add(chunk: list[SearchEntry], bar: tqdm[Any]) -> None:
        nonlocal loaded, retries
        try:
            for attempt in range(8):  # as the consumers do: a timed-out write is retried
                try:
                    await index.add(chunk)
                    break
                except TimelineError as e:
                    if not e.retriable or attempt == 7:
                        raise
                    retries += 1
                    await asyncio.sleep(0.5 * 2**attempt)
        finally:
            slots.release()
        loaded += len(chunk)
        bar.update(len(chunk))

    with tqdm(total=corpus.size, unit="tweet", desc="load", **BAR) as bar:
        tasks = []
        for chunk in corpus.chunks:
            await slots.acquire()
            if time.perf_counter() - started > budget_s:
                slots.release()
                break
            tasks.append(asyncio.create_task(add(chunk, bar)))
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    rate = round(loaded / elapsed)
    return {"tweets": loaded, "seconds": round(elapsed, 1), "tweets_s": rate, "retries": retries}


async def latency(index: SearchIndex, asked: list[tuple[str, PageQuery]]) -> dict[str, Any]:
    """One query at a time: latency percentiles in milliseconds and tweets per page."""
    times, sizes = [], []
    for q, page in asked:
        terms = list(parse_query(q).terms)
        started = time.perf_counter()
        found = await index.search(terms, page)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(found))
    times.sort()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "max_ms": round(times[-1], 2),
        "mean_tweets": round(statistics.fmean(sizes), 1),
    }


async def throughput(
    index: SearchIndex, asked: list[tuple[str, PageQuery]], clients: int, seconds: float
) -> dict[str, Any]:
    """Queries per second from concurrent clients, each cycling through the mix."""
    done = 0
    failed: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            q, page = asked[i % len(asked)]
            i += clients
            try:
                await index.search(list(parse_query(q).terms), page)
            except StoreUnavailable as e:  # counted and shown: a refused query is a figure too
                failed[str(e)[:200]] = failed.get(str(e)[:200], 0) + 1
                continue
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "queries_s": round(done / elapsed),
        "failed": sum(failed.values()),
        "failures": failed,
    }


async def run_backend(kind: str, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n== {kind}: loading {corpus.size:,} tweets", file=sys.stderr)
    async with search_index(kind, args) as index:
        loaded = await load(index, corpus, args.max_load_s, args.in_flight)
        counts = corpus.counts(loaded["tweets"])
        asked = queries(corpus, counts, args.queries, args.seed)
        kinds = {k: await latency(index, q) for k, q in asked.items()}
        mix = [q for i in range(args.queries) for k in KINDS for q in asked[k][i : i + 1]]
        rate = await throughput(index, mix, args.clients, args.throughput_s)
    return {
        "load": loaded,
        "queries": kinds,
        "throughput": rate,
        "vocabulary": len(counts),
        "loadavg_1m_after": os.getloadavg()[0],  # other tenants of the machine show here
    }


def report(kind: str, result: dict[str, Any]) -> None:
    load_ = result["load"]
    print(
        f"\n{kind}: loaded {load_['tweets']:,} tweets in {load_['seconds']} s "
        f"({load_['tweets_s']:,} tweets/s, {load_['retries']} chunks retried); "
        f"{result['vocabulary']:,} distinct terms"
    )
    print(f"{'query':<14}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'tweets/page':>13}")
    for name, row in result["queries"].items():
        print(
            f"{name:<14}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['max_ms']:>9}"
            f"{row['mean_tweets']:>13}"
        )
    rate = result["throughput"]
    print(f"throughput: {rate['queries_s']:,} queries/s from {rate['clients']} clients (the mix)")
    if rate.get("failed"):
        print(f"  {rate['failed']:,} queries failed: {rate['failures']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tweets", type=int, default=1_000_000)
    parser.add_argument(
        "--backend", choices=["embedded", "kafka-cassandra", "both"], default="both"
    )
    parser.add_argument("--days", type=float, default=7.0, help="the time the ids span")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--throughput-s", type=float, default=20.0)
    parser.add_argument("--max-load-s", type=float, default=900.0, help="stop loading after")
    parser.add_argument("--in-flight", type=int, default=4, help="chunks being added at once")
    parser.add_argument(
        "--max-in-flight", type=int, default=128, help="Cassandra requests in flight at once"
    )
    parser.add_argument("--seed", type=int, default=2010)
    parser.add_argument("--keep", action="store_true", help="keep the Cassandra keyspace")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    kinds = ["embedded", "kafka-cassandra"] if args.backend == "both" else [args.backend]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "stamp": stamp}
    corpus = Corpus(args.tweets, args.days, args.seed)
    corpus.build()
    out = args.out or RESULTS_DIR / f"search-{stamp}" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # another backend's figures from an earlier run of the same corpus
        earlier = json.loads(out.read_text(encoding="utf-8"))
        results = {**{k: v for k, v in earlier.items() if k not in kinds}, **results}
    for kind in kinds:
        results[kind] = asyncio.run(run_backend(kind, corpus, args))
        results[kind]["run"] = {
            "stamp": stamp,
            "command": " ".join(["python -m bench.search", *sys.argv[1:]]),
        }
        report(kind, results[kind])
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
