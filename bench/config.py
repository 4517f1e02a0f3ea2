"""The sizes of a benchmark run: one named scale, adjusted by BENCH_* environment variables.

`BENCH_SCALE=small|medium|full` picks a row of SCALES; any field can then be overridden by
`BENCH_<FIELD>` (e.g. `BENCH_USERS=50000`, `BENCH_PROFILE_S=30`) or by a flag of
`python -m bench` (`--users 50000`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CORPUS_DIR = BENCH_DIR / "corpus"  # tweet texts of the project's own, in many scripts

# The numbers of DESIGN.md: tweets per second on average and at the two record peaks, and
# the Michael Jackson surge (100,000 tweets in an hour).
AVERAGE_TWEETS_S = 750.0
WORLD_CUP_TWEETS_S = 2940.0
NBA_FINALS_TWEETS_S = 3085.0
SURGE_TWEETS_PER_HOUR = 100_000


@dataclass(frozen=True, slots=True)
class Scale:
    """Every size of a run. Rates are tweets per second unless the name says otherwise."""

    name: str = "full"
    seed: int = 2010
    # The follow graph (bench/graph.py).
    users: int = 100_000
    mean_following: float = 40.0
    zipf_exponent: float = 1.0
    popular_share: float = 0.3  # share of follow edges aimed by popularity (Zipf), not uniformly
    celebrity_threshold: int = 10_000  # the engine's default
    # Baselines (bench/baselines.py).
    kafka_records: int = 300_000
    cassandra_writes: int = 300_000
    cassandra_reads: int = 50_000
    read_rate_s: float = 1000.0  # home-timeline reads per second for the latency comparison
    read_low_rate_s: float = 50.0  # the same comparison at a rate a small machine sustains
    read_latency_s: float = 30.0
    # Ingest through the batch endpoint (bench/ingest.py).
    ingest_tweets: int = 200_000
    # CPU per unit (bench/costs.py): single posts and home pages, engine and bare client each.
    cost_posts: int = 50_000
    cost_pages: int = 50_000
    cost_clients: int = 64  # requests in flight from the closed-loop client
    # The pipeline (bench/pipeline.py).
    preload_tweets: int = 300_000
    e2e_rate_s: float = NBA_FINALS_TWEETS_S
    e2e_s: float = 60.0
    watched_followers: int = 60
    watch_poll_ms: float = 100.0
    # HTTP load through Locust (bench/locustfile.py).
    rate_factor: float = 1.0  # multiplies every profile's rate (say so when not 1)
    profile_s: float = 60.0  # length of each steady profile
    ramp_s: float = 120.0
    ramp_max_requests_s: float = 4000.0
    surge_time_factor: float = 12.0  # the surge hour is played in 3600/factor seconds
    max_in_flight: int = 2000
    # Profiling with py-spy (seconds per process; 0 skips it).
    profile_seconds: float = 20.0


SCALES: dict[str, Scale] = {
    "small": Scale(
        name="small",
        users=2_000,
        mean_following=25.0,
        celebrity_threshold=400,
        kafka_records=200_000,
        cassandra_writes=30_000,
        cassandra_reads=10_000,
        read_latency_s=10.0,
        ingest_tweets=200_000,
        cost_posts=10_000,
        cost_pages=10_000,
        preload_tweets=10_000,
        e2e_s=60.0,
        watched_followers=20,
        profile_s=15.0,
        ramp_s=60.0,
        ramp_max_requests_s=2000.0,
        surge_time_factor=120.0,
        profile_seconds=8.0,
    ),
    "medium": Scale(
        name="medium",
        users=10_000,
        mean_following=40.0,
        celebrity_threshold=2_000,
        kafka_records=200_000,
        cassandra_writes=100_000,
        cassandra_reads=30_000,
        read_latency_s=20.0,
        ingest_tweets=200_000,
        cost_posts=20_000,
        cost_pages=20_000,
        preload_tweets=50_000,
        e2e_s=60.0,
        profile_s=30.0,
        ramp_s=90.0,
        ramp_max_requests_s=3000.0,
        surge_time_factor=60.0,
        profile_seconds=15.0,
    ),
    "full": Scale(),
}


def scale_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Scale:
    """The scale named by BENCH_SCALE (default full), then BENCH_<FIELD> values, then overrides."""
    env = os.environ if environ is None else environ
    name = overrides.pop("name", None) or env.get("BENCH_SCALE", "full")
    if name not in SCALES:
        raise ValueError(f"BENCH_SCALE must be one of {sorted(SCALES)}, got {name!r}")
    base = SCALES[name]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Scale):
        raw = env.get("BENCH_" + f.name.upper())
        if raw is not None and f.name != "name":
            values[f.name] = type(getattr(base, f.name))(raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(base, **values)
