"""Locust scenarios at a constant arrival rate (open loop) against the timeline API.

Locust's wait_time paces each simulated user after its previous answer (a closed loop), so a
slow server is offered less load and its queueing delay is hidden. Here one Locust user runs
a scheduler instead: request k is due at a fixed time given by the profile's rate, a greenlet
is spawned for it whatever happened to the earlier ones, and its response time counts from
the time it was due, queueing included. When more than BENCH_MAX_IN_FLIGHT requests are
outstanding, a due request is not sent: it is counted in the series this file writes
(`not_sent`), not in Locust's statistics, so that a generator far behind an overloaded server
spends nothing per request it drops and keeps its schedule for the rest.

The mix is 60% home timelines, 30% user timelines, 10% single-tweet posts (seed texts in
Kazakh and Georgian, at most 140 characters). Profiles (BENCH_PROFILE), in tweets per second
as DESIGN.md counts them, times BENCH_RATE_FACTOR (1 by default):

  steady750   750 tweets/s, 7,500 requests/s with the mix, for BENCH_PROFILE_S seconds
  peak2940    2,940 tweets/s (World Cup 2010)
  peak3085    3,085 tweets/s (NBA finals 2010)
  surge       100,000 tweets in an hour (June 2009), played BENCH_SURGE_TIME_FACTOR times
              faster by cutting the hour, not raising the rate: 100,000/factor tweets
  ramp        the mix from 20 requests/s up to BENCH_RAMP_MAX_REQUESTS_S over BENCH_RAMP_S,
              growing by the same factor every second
  read<N>     the mix at N home-timeline reads/s: read1000 is 1,667 requests/s
  posts3085   single-tweet posts only, 3,085/s

    locust -f bench/locustfile.py --headless -u 1 -r 1 --host http://127.0.0.1:8080 \\
        --csv bench/results/x/steady750 --html bench/results/x/steady750.html

BENCH_GRAPH names the .npz written by `python -m bench.graph --save` (the user ids to read
and post as); BENCH_READ_HOST, when set, serves the reads (e.g. `timeline readers`) while
--host serves the posts (`timeline ingest`). Only 127.0.0.1 is targeted.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent
import numpy as np
from geventhttpclient import HTTPClient
from locust import User, task
from locust.exception import StopUser

from bench.config import (
    AVERAGE_TWEETS_S,
    NBA_FINALS_TWEETS_S,
    SURGE_TWEETS_PER_HOUR,
    WORLD_CUP_TWEETS_S,
)
from bench.tweet_texts import corpus_texts

MIX = {"home_timeline": 0.6, "user_timeline": 0.3, "post_tweet": 0.1}
KINDS = tuple(MIX)
POOL_CONNECTIONS = 256
RAMP_START_S = 20.0
TIMEOUT_S = 30.0
LOCAL = ("127.0.0.1", "localhost")


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Profile:
    """Requests per second over time, and the share of each kind of request."""

    name: str
    seconds: float
    rate: Callable[[float], float]  # requests/s at t seconds
    mix: dict[str, float]
    note: str

    def tweets_s(self, t: float) -> float:
        return self.rate(t) * self.mix["post_tweet"]


def surge_tweets_s(hour_s: float) -> float:
    """Tweets/s at a time of the surge hour: a quick rise to a peak, then a slow decay,
    scaled so the hour holds SURGE_TWEETS_PER_HOUR tweets (27.8/s on average)."""
    shape = _surge_shape(hour_s)
    return SURGE_TWEETS_PER_HOUR * shape / _SURGE_AREA


def _surge_shape(t: float) -> float:
    rise, decay = 300.0, 1200.0
    return 0.3 + (t / rise if t < rise else math.exp(-(t - rise) / decay))


_SURGE_AREA = sum(_surge_shape(s + 0.5) for s in range(3600))


def profile(name: str) -> Profile:
    """The profile named by BENCH_PROFILE, with the BENCH_* sizes."""
    factor = env_float("BENCH_RATE_FACTOR", 1.0)
    length = env_float("BENCH_PROFILE_S", 60.0)
    post = MIX["post_tweet"]

    def steady(tweets_s: float, label: str) -> Profile:
        total = tweets_s * factor / post
        note = f"{label}: {tweets_s * factor:,.0f} tweets/s, {total:,.0f} requests/s with the mix"
        return Profile(name, length, lambda t: total, MIX, note)

    if name == "steady750":
        return steady(AVERAGE_TWEETS_S, "average 2010")
    if name == "peak2940":
        return steady(WORLD_CUP_TWEETS_S, "World Cup peak")
    if name == "peak3085":
        return steady(NBA_FINALS_TWEETS_S, "NBA finals peak")
    if name.startswith("read") and name[4:].isdigit():
        reads = float(name[4:]) * factor
        total = reads / MIX["home_timeline"]
        note = f"the mix at {reads:,.0f} home-timeline reads/s: {total:,.0f} requests/s"
        return Profile(name, length, lambda t: total, MIX, note)
    if name == "posts3085":
        rate = NBA_FINALS_TWEETS_S * factor
        only = {"home_timeline": 0.0, "user_timeline": 0.0, "post_tweet": 1.0}
        return Profile(name, length, lambda t: rate, only, f"{rate:,.0f} single posts/s")
    if name == "surge":
        speed = env_float("BENCH_SURGE_TIME_FACTOR", 12.0)
        seconds = 3600.0 / speed
        tweets = SURGE_TWEETS_PER_HOUR / speed
        note = (
            f"the surge hour cut {speed:g}x to {seconds:,.0f}s at its real rates: "
            f"{tweets:,.0f} of its 100,000 tweets"
        )
        return Profile(
            name, seconds, lambda t: surge_tweets_s(t * speed) * factor / post, MIX, note
        )
    if name == "ramp":
        seconds = env_float("BENCH_RAMP_S", 120.0)
        top = env_float("BENCH_RAMP_MAX_REQUESTS_S", 4000.0)
        lo = RAMP_START_S

        def ramp(t: float) -> float:  # geometric: the same relative step every second
            return float(lo * (top / lo) ** min(1.0, t / seconds))

        step = (top / lo) ** (1 / seconds) - 1
        note = (
            f"the mix from {lo:g} to {top:,.0f} requests/s over {seconds:g}s, "
            f"{step:.1%} more every second"
        )
        return Profile(name, seconds, ramp, MIX, note)
    raise ValueError(f"unknown BENCH_PROFILE {name!r}")


class Targets:
    """Who reads and who posts: users from the graph file, followees by popularity."""

    def __init__(self, path: str, seed: int) -> None:
        data = np.load(path)
        self.user_ids = data["user_ids"]
        followees = data["followee"]
        rng = np.random.default_rng(seed)
        self.rng = rng
        # A user timeline is read in proportion to its followers: pick a random edge's target.
        self.popular = self.user_ids[followees[rng.integers(0, followees.size, 200_000)]]
        self.texts = [t.encode() for t in corpus_texts()]
        self.k = 0

    def request(self, kind: str) -> tuple[str, str, bytes]:
        self.k += 1
        if kind == "home_timeline":
            uid = self.user_ids[self.rng.integers(0, self.user_ids.size)]
            return "GET", f"/v1/users/{uid}/home_timeline", b""
        if kind == "user_timeline":
            uid = self.popular[self.k % self.popular.size]
            return "GET", f"/v1/users/{uid}/tweets", b""
        uid = self.user_ids[self.rng.integers(0, self.user_ids.size)]
        text = self.texts[self.k % len(self.texts)]
        body = b'{"author_id":"%d","text":%s}' % (uid, json.dumps(text.decode()).encode())
        return "POST", "/v1/tweets", body


def client_for(url: str) -> HTTPClient:
    parts = urlsplit(url)
    if parts.hostname not in LOCAL:
        raise ValueError(f"the benchmark only targets 127.0.0.1, not {parts.hostname}")
    return HTTPClient(
        parts.hostname,
        parts.port or 80,
        concurrency=POOL_CONNECTIONS,
        connection_timeout=TIMEOUT_S,
        network_timeout=TIMEOUT_S,
        headers={"Content-Type": "application/json", "Connection": "keep-alive"},
    )


class Recorder:
    """Every request: when it was due, its kind, latency from due time, lateness, outcome."""

    def __init__(self) -> None:
        self.due: list[float] = []
        self.kind: list[int] = []
        self.latency_ms: list[float] = []
        self.late_ms: list[float] = []
        self.status: list[int] = []  # HTTP status; 0 = transport error, -1 = not sent

    def add(self, due: float, kind: int, latency_ms: float, late_ms: float, status: int) -> None:
        self.due.append(due)
        self.kind.append(kind)
        self.latency_ms.append(latency_ms)
        self.late_ms.append(late_ms)
        self.status.append(status)

    def save(self, path: str, meta: dict[str, Any]) -> None:
        np.savez_compressed(
            path,
            due=np.array(self.due),
            kind=np.array(self.kind, dtype=np.int8),
            latency_ms=np.array(self.latency_ms),
            late_ms=np.array(self.late_ms),
            status=np.array(self.status, dtype=np.int16),
            meta=json.dumps(meta),
        )


class OpenLoopUser(User):
    """One scheduler that starts requests at the profile's rate, never waiting for answers."""

    fixed_count = 1

    def on_start(self) -> None:
        self.profile = profile(os.environ.get("BENCH_PROFILE", "steady750"))
        self.targets = Targets(os.environ["BENCH_GRAPH"], int(os.environ.get("BENCH_SEED", "1")))
        assert self.host is not None
        self.write = client_for(self.host)
        self.read = client_for(os.environ.get("BENCH_READ_HOST") or self.host)
        self.max_in_flight = int(env_float("BENCH_MAX_IN_FLIGHT", 2000))
        self.in_flight = 0
        self.recorder = Recorder()
        self.rng = random.Random(int(os.environ.get("BENCH_SEED", "1")) + 7)
        home, user = self.profile.mix["home_timeline"], self.profile.mix["user_timeline"]
        self.cuts = (home, home + user)  # a draw below cuts[0] is a home read, then user, post

    @task
    def drive(self) -> None:
        p = self.profile
        t0 = time.perf_counter()
        self.t0_wall = time.time()
        t = 0.0  # when the next request is due, in seconds since t0
        greenlets: list[gevent.Greenlet] = []
        while t < p.seconds:
            now = time.perf_counter() - t0
            for _ in range(200):  # start what is due, then yield to the requests in flight
                if t > now or t >= p.seconds:
                    break
                self._start(greenlets, t0, t)
                t += 1.0 / max(p.rate(t), 1e-3)
            gevent.sleep(max(0.0, t - (time.perf_counter() - t0)))
            if len(greenlets) > 10_000:
                greenlets = [g for g in greenlets if not g.dead]
        gevent.joinall(greenlets, timeout=TIMEOUT_S + 5)
        self._finish()

    def _start(self, greenlets: list[gevent.Greenlet], t0: float, t: float) -> None:
        draw = self.rng.random()
        kind = 0 if draw < self.cuts[0] else 1 if draw < self.cuts[1] else 2
        if self.in_flight >= self.max_in_flight:
            self._overload(t, kind)
        else:
            self.in_flight += 1
            greenlets.append(gevent.spawn(self._one, t0, t, kind))

    def _one(self, t0: float, t: float, kind: int) -> None:
        name = KINDS[kind]
        method, path, body = self.targets.request(name)
        client = self.write if method == "POST" else self.read
        started = time.perf_counter()
        status, length = 0, 0
        error: Exception | None = None
        try:
            response = client.request(method, path, body=body)
            data = response.read()
            status, length = response.status_code, len(data)
            if status >= 400:
                error = RuntimeError(f"HTTP {status}: {data[:200]!r}")
        except Exception as e:  # transport errors count as failures, never stop the schedule
            error = e
        finally:
            self.in_flight -= 1
        end = time.perf_counter()
        latency_ms = (end - (t0 + t)) * 1000
        self.recorder.add(t, kind, latency_ms, (started - (t0 + t)) * 1000, status)
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=latency_ms,
            response_length=length,
            exception=error,
            context={},
        )

    def _overload(self, t: float, kind: int) -> None:
        self.recorder.add(t, kind, 0.0, 0.0, -1)  # not sent: too many in flight

    def _finish(self) -> None:
        out = os.environ.get("BENCH_SERIES_OUT")
        if out:
            meta = {
                "profile": self.profile.name,
                "t0_wall": self.t0_wall,
                "note": self.profile.note,
                "seconds": self.profile.seconds,
                "kinds": list(KINDS),
                "mix": self.profile.mix,
                "max_in_flight": self.max_in_flight,
                "offered": [
                    [s, self.profile.rate(s + 0.5)] for s in range(math.ceil(self.profile.seconds))
                ],
            }
            self.recorder.save(out, meta)
        runner = self.environment.runner
        if runner is not None:
            gevent.spawn_later(0.1, runner.quit)
        raise StopUser()
