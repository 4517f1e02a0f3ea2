"""The pipeline without HTTP: the log in, the fan-out consumer, home timelines out.

Phase 1 (throughput): with the fan-out stopped, append N tweets to the log with the engine's
EventLog; then start `timeline fanout` and measure home-timeline rows written per second
until it has consumed them all.

Phase 2 (latency): with the fan-out running, append tweets on a fixed schedule (open loop)
and read a sample of followers' home timelines as they fill; publish-to-visible is the time
from a tweet's scheduled publish to the poll that first saw it in a follower's timeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from tqdm import tqdm

from bench.costs import requests_by_op, requests_per_unit
from bench.graph import Graph, handle_of
from bench.stack import EngineProcess, Samples, metric_sum
from bench.stack import producer as bare_producer
from bench.stats import latency_summary, per_second
from bench.tweet_texts import corpus_texts, tweet_event
from engine.adapters.cassandra import CqlSession
from engine.adapters.kafka import key_bytes
from engine.config import Settings
from engine.events import TweetPosted, encode
from engine.groups import TIMELINES, group_name
from engine.ids import IdGenerator
from engine.ports import Backend

APPEND_CHUNK = 2000
TICK_S = 0.01
WATCH_LIMIT = 500
ROWS = "timeline_fanout_rows_written_total"
CONSUMED = "timeline_consumer_events_total"


@dataclass
class Tweets:
    """Tweet events of authors drawn uniformly (by seed) from the graph's users."""

    graph: Graph
    user_ids: np.ndarray
    celebrity_threshold: int
    seed: int
    ids: IdGenerator = field(default_factory=lambda: IdGenerator(1020))

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.rows_per_author = self.graph.home_rows(self.celebrity_threshold)
        self.texts = corpus_texts()
        self.count = 0

    def next(self, n: int) -> tuple[list[TweetPosted], np.ndarray]:
        """n new tweet events and their authors' indices."""
        authors = self.rng.integers(0, self.graph.spec.users, n)
        events = []
        for a in authors:
            text = self.texts[self.count % len(self.texts)]
            self.count += 1
            events.append(
                tweet_event(self.ids.next_id(), int(self.user_ids[a]), handle_of(a), text)
            )
        return events, authors


def fanout_groups(tweets: Tweets, n: int, chunk: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """The home rows of the next n tweets grouped as a fan-out consumer groups them: per
    `chunk` tweets (one consumer batch), one (owner, [(tweet id, author id), ...]) group per
    home-timeline partition, with the author's own row and one per follower; none for a
    celebrity. A fresh `Tweets` with the pre-load's seed gives the pre-load's authors."""
    offsets, followers = tweets.graph.audiences()
    authors = np.concatenate(
        [tweets.next(min(APPEND_CHUNK, n - lo))[1] for lo in range(0, n, APPEND_CHUNK)]
    )
    ids = [tweets.ids.next_id() for _ in range(n)]
    groups: list[tuple[int, list[tuple[int, int]]]] = []
    for lo in range(0, n, chunk):
        by_owner: dict[int, list[tuple[int, int]]] = {}
        for tweet_id, a in zip(ids[lo : lo + chunk], authors[lo : lo + chunk], strict=True):
            if tweets.rows_per_author[a] == 0:
                continue
            row = (tweet_id, int(tweets.user_ids[a]))
            for owner in (a, *followers[offsets[a] : offsets[a + 1]]):
                by_owner.setdefault(int(tweets.user_ids[owner]), []).append(row)
        groups += by_owner.items()
    return groups


async def _append(backend: Backend, events: Sequence[TweetPosted]) -> int:
    results = await backend.log.append_many(events)
    return sum(1 for r in results if isinstance(r, BaseException))


async def preload(backend: Backend, tweets: Tweets, n: int, progress: bool) -> dict[str, Any]:
    """Append n tweets with the engine's EventLog; the rate counts only the appends (the
    events are made first) and the rows they should make."""
    chunks = []
    expected_rows = 0
    for lo in range(0, n, APPEND_CHUNK):
        events, authors = tweets.next(min(APPEND_CHUNK, n - lo))
        chunks.append(events)
        expected_rows += int(tweets.rows_per_author[authors].sum())
    failed = 0
    started = time.perf_counter()
    with tqdm(total=n, desc="tweets -> log", unit="tw", disable=not progress) as bar:
        for events in chunks:
            failed += await _append(backend, events)
            bar.update(len(events))
    seconds = time.perf_counter() - started
    return {
        "tweets": n,
        "chunk": APPEND_CHUNK,
        "failed": failed,
        "seconds": round(seconds, 3),
        "tweets_s": round(n / seconds, 1),
        "expected_home_rows": expected_rows,
        "mean_fanout": round(expected_rows / n, 2),
    }


async def counters(fanout: EngineProcess) -> tuple[float, float]:
    """(home-timeline rows written, tweets consumed) so far by the fan-out process."""
    m = await fanout.metrics()
    return metric_sum(m, ROWS, table="home_timeline"), metric_sum(m, CONSUMED, type="tweet_posted")


async def drain(
    fanout: EngineProcess,
    tweets: int,
    expected_rows: int,
    progress: bool,
    on_start: Callable[[EngineProcess], None] = lambda p: None,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Start the fan-out over a full log and sample its counters until every tweet is consumed."""
    await fanout.start()
    on_start(fanout)
    started, started_wall = time.perf_counter(), time.time()
    series: list[tuple[float, float, float]] = []
    first: Samples | None = None
    with tqdm(total=tweets, desc="fan-out drains", unit="tw", disable=not progress) as bar:
        while True:
            m = await fanout.metrics()
            rows, consumed = (
                metric_sum(m, ROWS, table="home_timeline"),
                metric_sum(m, CONSUMED, type="tweet_posted"),
            )
            first = first or m
            now = time.perf_counter() - started
            series.append((now, rows, consumed))
            bar.update(int(consumed) - bar.n)
            if consumed >= tweets or now > timeout_s:
                break
            await asyncio.sleep(0.25)
    requests = requests_per_unit(
        requests_by_op(first), requests_by_op(m), series[-1][2] - series[0][2]
    )
    return {
        "t0_wall": started_wall,
        **_throughput(series, tweets, expected_rows),
        "window_home_rows": int(series[-1][1] - series[0][1]),
        "window_tweets": int(series[-1][2] - series[0][2]),
        "cassandra_requests_per_tweet": requests,
    }


def _throughput(
    series: list[tuple[float, float, float]], tweets: int, expected_rows: int
) -> dict[str, Any]:
    """Rows/s between the first and the last sample that saw rows being written (the
    process start-up and the last partial sample interval are left out), and from start."""
    t = np.array([s[0] for s in series])
    rows = np.array([s[1] for s in series])
    consumed = np.array([s[2] for s in series])
    moving = np.flatnonzero(np.diff(rows) > 0)
    first, last = (int(moving[0]), int(moving[-1]) + 1) if moving.size else (0, len(t) - 1)
    seconds = float(t[last] - t[first])
    return {
        "tweets": tweets,
        "consumed": int(consumed[-1]),
        "home_rows": int(rows[-1]),
        "expected_home_rows": expected_rows,
        "seconds_from_start": round(float(t[-1]), 2),
        "seconds_writing": round(seconds, 2),
        "rows_s": round(float(rows[last] - rows[first]) / seconds, 1) if seconds > 0 else None,
        "rows_s_from_start": round(float(rows[-1]) / float(t[-1]), 1) if t[-1] > 0 else None,
        "tweets_s": round(float(consumed[last] - consumed[first]) / seconds, 1)
        if seconds > 0
        else None,
        "series": [
            {"t": round(float(a), 2), "home_rows": int(b), "tweets": int(c)}
            for a, b, c in zip(t, rows, consumed, strict=True)
        ],
    }


class RawPublisher:
    """Appends encoded events exactly as the EventLog does (same producer settings, bytes and
    keys) without its per-event bookkeeping, so a schedule of thousands a second is kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = bare_producer(settings)
        self.acks: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> RawPublisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, events: Sequence[TweetPosted]) -> None:
        prefix = self.settings.kafka_topic_prefix
        for e in events:
            ack = await self.producer.send(prefix + e.topic, encode(e), key=key_bytes(e.key))
            self.acks.append(ack)

    async def failures(self) -> int:
        done = await asyncio.gather(*self.acks, return_exceptions=True)
        return sum(1 for d in done if isinstance(d, BaseException))


class Watcher:
    """Polls the home timelines of a few followers and notes when tracked tweets appear.

    Each poll reads the ids above the oldest tweet still awaited, oldest first and at most
    WATCH_LIMIT of them: the fan-out does not write in id order across log partitions
    (one partition can be a minute behind another), so the newest id seen is no safe lower
    bound. When that window is full, the newest WATCH_LIMIT ids are read too, so a tweet
    that never arrives cannot hide the ones after it. What is still awaited at the end is
    looked up row by row (`classify_missing`).
    """

    def __init__(self, cql: CqlSession, owners: Sequence[int], poll_s: float) -> None:
        self.cql = cql
        self.owners = list(owners)
        self.poll_s = poll_s
        self.pending: dict[int, dict[int, float]] = {o: {} for o in owners}  # tweet -> published
        self.seen_ms: list[tuple[float, float]] = []  # (published wall time, latency ms)
        self.polls = 0
        self._stop = asyncio.Event()
        self._newest: dict[int, int] = dict.fromkeys(owners, 0)

    def track(self, owner: int, tweet_id: int, published: float) -> None:
        self.pending[owner][tweet_id] = published

    async def run(self) -> None:
        await asyncio.gather(*(self._poll(o) for o in self.owners))

    def stop(self) -> None:
        self._stop.set()

    async def _poll(self, owner: int) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            await self.poll_once(owner)
            await asyncio.sleep(max(0.0, self.poll_s - (time.monotonic() - started)))

    async def poll_once(self, owner: int) -> None:
        pending = self.pending[owner]
        since = min(pending) - 1 if pending else self._newest[owner]
        ids = await self._ids_after(owner, since, "ASC")
        if len(ids) >= WATCH_LIMIT:
            ids += await self._ids_after(owner, since, "DESC")
        now = time.time()
        self.polls += 1
        for tweet_id in ids:
            self._newest[owner] = max(self._newest[owner], tweet_id)
            published = pending.pop(tweet_id, None)
            if published is not None:
                self.seen_ms.append((published, (now - published) * 1000))

    async def _ids_after(self, owner: int, since: int, order: str) -> list[int]:
        """Ids above `since`, the oldest or the newest first, without decoding tweets (the
        watcher must not be what slows the machine down)."""
        rows = await self.cql.run(
            "SELECT tweet_id FROM home_timeline WHERE user_id = ? AND tweet_id > ? "
            f"ORDER BY tweet_id {order} LIMIT ?",
            (owner, since, WATCH_LIMIT),
            op="bench_watch",
        )
        return [r[0] for r in rows]

    def outstanding(self) -> int:
        return sum(map(len, self.pending.values()))

    async def classify_missing(self, cap: int) -> dict[str, int]:
        """Tweets the polls never saw: in the timeline now (seen only at this last look, so
        no latency for them), gone with `cap` newer rows above them (the trim may have cut
        them before a poll came), or lost."""
        found = lost = beyond_cap = 0
        for owner, pending in self.pending.items():
            for tweet_id in pending:
                there = await self.cql.run(
                    "SELECT tweet_id FROM home_timeline WHERE user_id = ? AND tweet_id = ?",
                    (owner, tweet_id),
                    op="bench_watch",
                )
                newer = await self.cql.run(
                    "SELECT tweet_id FROM home_timeline WHERE user_id = ? AND tweet_id > ? LIMIT ?",
                    (owner, tweet_id, cap),
                    op="bench_watch",
                )
                if there:
                    found += 1
                elif len(newer) >= cap:
                    beyond_cap += 1
                else:
                    lost += 1
        return {"found_at_end": found, "lost": lost, "beyond_cap": beyond_cap}


class Audiences:
    """Which watched follower, if any, should see each author's tweets."""

    def __init__(self, tweets: Tweets, watched: int) -> None:
        graph = tweets.graph
        rng = np.random.default_rng(tweets.seed + 1)
        self.owners = rng.choice(graph.spec.users, size=watched, replace=False)
        self.is_watched = np.zeros(graph.spec.users, dtype=bool)
        self.is_watched[self.owners] = True
        self.offsets, self.followers = graph.audiences()
        self.tweets = tweets

    def watcher_of(self, author: int) -> int | None:
        if self.tweets.rows_per_author[author] == 0:
            return None  # a celebrity: merged at read time, never written to home timelines
        audience = self.followers[self.offsets[author] : self.offsets[author + 1]]
        hits = audience[self.is_watched[audience]]
        return int(self.tweets.user_ids[hits[0]]) if hits.size else None


async def publish_at_rate(
    publisher: RawPublisher,
    tweets: Tweets,
    rate_s: float,
    seconds: float,
    on_event: Callable[[TweetPosted, int, float], None] = lambda e, a, t: None,
    on_second: Callable[[float], Awaitable[None]] | None = None,
    progress: bool = False,
) -> tuple[float, float, int]:
    """Publish rate_s tweets a second for `seconds` on a fixed schedule (open loop);
    (start wall time, seconds it took, rows the tweets should make). The events are made
    before the clock starts, so the schedule pays only for sending them; each is stamped with
    its scheduled time as it is sent (the time ingest would give it), so the fan-out's
    timeline_delivery_seconds measures from there too."""
    total = int(rate_s * seconds)
    events, authors = tweets.next(total)
    expected_rows = int(tweets.rows_per_author[authors].sum())
    t0 = time.time() + 0.1
    sent = 0
    ticks = 0
    with tqdm(total=total, desc=f"publish {rate_s:.0f}/s", unit="tw", disable=not progress) as bar:
        while sent < total:
            due = min(total, int((time.time() - t0) * rate_s) + 1)
            if due > sent:
                for k in range(sent, due):
                    at = t0 + k / rate_s
                    events[k] = msgspec.structs.replace(events[k], ts_us=int(at * 1e6))
                    on_event(events[k], int(authors[k]), at)
                await publisher.send(events[sent:due])
                bar.update(due - sent)
                sent = due
            if on_second is not None and time.time() - t0 >= ticks:
                ticks += 1
                await on_second(t0)
            await asyncio.sleep(TICK_S)
    return t0, time.time() - t0, expected_rows


async def steady(
    backend: Backend,
    fanout: EngineProcess,
    tweets: Tweets,
    rate_s: float,
    seconds: float,
    watched: int,
    poll_ms: float,
    progress: bool,
    settle_s: float = 900.0,
) -> dict[str, Any]:
    """Publish at a fixed rate while the fan-out runs; publish-to-visible for watched followers."""
    settings: Settings = backend.settings  # type: ignore[attr-defined]
    cql: CqlSession = backend.cql  # type: ignore[attr-defined]
    audiences = Audiences(tweets, watched)
    rows0, consumed0 = await counters(fanout)
    fanout_before = await fanout.metrics()
    watcher = Watcher(cql, [int(tweets.user_ids[i]) for i in audiences.owners], poll_ms / 1000)
    samples: list[tuple[float, float, float]] = []

    def track(event: TweetPosted, author: int, published: float) -> None:
        owner = audiences.watcher_of(author)
        if owner is not None:
            watcher.track(owner, event.event_id, published)

    async def sample(t0: float) -> None:
        samples.append((time.time() - t0, *await counters(fanout)))

    poller = asyncio.create_task(watcher.run())
    caught_up: float | None = None
    try:
        async with RawPublisher(settings) as publisher:
            t0, publish_s, expected_rows = await publish_at_rate(
                publisher, tweets, rate_s, seconds, track, sample, progress
            )
            failed = await publisher.failures()
        total = int(rate_s * seconds)
        deadline = time.time() + settle_s
        while time.time() < deadline:
            await sample(t0)
            if samples[-1][2] - consumed0 >= total:
                caught_up = caught_up or time.time() - t0
                if watcher.outstanding() == 0 or time.time() - t0 - caught_up > 5:
                    break  # what is still awaited 5 s after the last tweet was applied is lost
            await asyncio.sleep(0.5)
        await asyncio.sleep(2 * poll_ms / 1000)
    finally:
        watcher.stop()
        await poller
    missing = await watcher.classify_missing(settings.home_timeline_cap)
    rows, consumed = await counters(fanout)
    fanout_after = await fanout.metrics()
    seen = np.array([ms for _, ms in watcher.seen_ms])
    seen_t = np.array([p - t0 for p, _ in watcher.seen_ms])
    order = np.argsort(seen_t)
    return {
        "t0_wall": t0,
        "rate_s": rate_s,
        "seconds": seconds,
        "tweets": total,
        "publisher": "aiokafka with the EventLog's settings and encoding (acks=all, idempotent)",
        "failed_appends": failed,
        "publish_seconds": round(publish_s, 2),
        "caught_up_after_publish_s": None if caught_up is None else round(caught_up - publish_s, 2),
        "consumed": int(consumed - consumed0),
        "home_rows": int(rows - rows0),
        "expected_home_rows": expected_rows,
        "mean_fanout": round(expected_rows / total, 2),
        "watched_followers": watched,
        "poll_ms": poll_ms,
        "polls": watcher.polls,
        "tracked": len(watcher.seen_ms) + watcher.outstanding(),
        "not_seen": watcher.outstanding(),
        "lost": missing["lost"] if caught_up is not None else None,
        "not_seen_beyond_cap": missing["beyond_cap"],
        "seen_only_at_end": missing["found_at_end"],
        "visible": latency_summary(seen),
        "fanout_own": fanout_own(fanout_before, fanout_after, group_name(settings, TIMELINES)),
        "visible_series": per_second(seen_t[order], seen[order]),
        "fanout_series": [
            {"t": round(t, 2), "home_rows": int(r - rows0), "tweets": int(c - consumed0)}
            for t, r, c in samples
        ],
    }


DELIVERY = "timeline_delivery_seconds"
BATCH = "timeline_consumer_batch_records"
BATCH_TIME = "timeline_consumer_batch_seconds"


def fanout_own(before: Samples, after: Samples, group: str) -> dict[str, Any]:
    """The fan-out's own part of publish-to-visible over a window, from its metrics: append to
    home rows written (timeline_delivery_seconds, p50/p99 from its buckets), and the mean
    batch of its home-timeline `group` and the mean time from its poll to its commit."""
    buckets = sorted(
        (float(dict(labels)["le"]), after[(name, labels)] - before.get((name, labels), 0.0))
        for name, labels in after
        if name == DELIVERY + "_bucket"
    )

    def grew(name: str) -> float:
        return metric_sum(after, name, group=group) - metric_sum(before, name, group=group)

    batches, records = grew(BATCH + "_count"), grew(BATCH + "_sum")
    return {
        "delivery_p50_ms": bucket_quantile(buckets, 0.5),
        "delivery_p99_ms": bucket_quantile(buckets, 0.99),
        "batches": int(batches),
        "mean_batch_records": round(records / batches, 1) if batches else None,
        "mean_batch_ms": round(1000 * grew(BATCH_TIME + "_sum") / batches, 1) if batches else None,
    }


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """A quantile in ms from cumulative (upper bound s, count) buckets, interpolated inside
    its bucket as Prometheus's histogram_quantile does; None without observations."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return round(lower * 1000, 1)
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (upper - lower) * share) * 1000, 1)
        lower, below = upper, count
    return round(lower * 1000, 1)


async def reads_beside_fanout(
    settings: Settings,
    fanout: EngineProcess,
    tweets: Tweets,
    read_rate_s: float,
    write_tweets_s: float,
    seconds: float,
) -> dict[str, Any]:
    """Raw single-partition reads of real home timelines at a fixed rate, while the fan-out
    applies tweets published at `write_tweets_s`: the same write load as the HTTP profile."""
    from bench.baselines import RawCassandra

    raw = await asyncio.to_thread(RawCassandra, settings)
    try:
        owners = tweets.user_ids
        reads = asyncio.create_task(
            asyncio.to_thread(raw.read_latency, owners, read_rate_s, seconds, "home_timeline")
        )
        rows0, _ = await counters(fanout)
        async with RawPublisher(settings) as publisher:
            await publish_at_rate(publisher, tweets, write_tweets_s, seconds)
            failed = await publisher.failures()
        rows1, _ = await counters(fanout)
        result = await reads
    finally:
        await asyncio.to_thread(raw.close)
    return {
        **result,
        "write_tweets_s": write_tweets_s,
        "failed_appends": failed,
        "fanout_rows_s": round((rows1 - rows0) / seconds, 1),
    }
