"""Typed configuration read from TIMELINE_* environment variables."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "TIMELINE_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
INFRA_PREFIX = "TIMELINE_INFRA_"  # read by `timeline infra` (deploy/local), not by Settings
BACKENDS = ("kafka-cassandra", "embedded")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the engine; each field is read from TIMELINE_<FIELD NAME IN CAPITALS>."""

    backend: str = "embedded"
    host: str = "127.0.0.1"
    port: int = 8080
    # Snowflake worker ids are leased: a lease (and the high-water mark of its ids) reaches
    # worker_lease_s ahead and is renewed every worker_lease_renew_s
    worker_lease_s: float = 300.0
    worker_lease_renew_s: float = 60.0
    log_level: str = "INFO"
    log_format: str = "json"
    access_log: str = "off"  # on: a line per answer on timeline.access, with a request id
    tokens: str = ""
    auth: str = "on"
    rate_limits: str = "2400/86400,50/1800"
    max_body_bytes: int = 1_048_576
    batch_max_tweets: int = 1000
    # How long a follow-up check or a read with a consistency token waits for a projection
    followup_wait_ms: int = 5000
    idempotency_ttl_s: int = 86_400
    idempotency_lease_s: float = 5.0
    # Limits of one HTTP process: how long a request may take to arrive, how many run at once
    request_read_timeout_s: float = 10.0
    max_in_flight: int = 256
    admission_wait_ms: int = 100
    admission_max_lag_ms: int = 50
    # Embedded backend: every file under this folder
    data_dir: str = ".data"
    log_min_free_bytes: int = 67_108_864
    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1
    kafka_linger_ms: int = 2
    kafka_request_timeout_ms: int = 10_000
    kafka_retention_ms: int = -1
    kafka_topic_prefix: str = ""
    # Cassandra
    cassandra_hosts: tuple[str, ...] = ("127.0.0.1",)
    cassandra_port: int = 9042
    cassandra_keyspace: str = "timeline"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    cassandra_request_timeout_s: float = 10.0
    cassandra_max_in_flight: int = 128
    # on: a page's reads and batched writes go through acsylla (adapters/cassandra/native.py)
    cassandra_native: str = "on"
    # Fan-out
    consumer_group_prefix: str = ""
    fanout_batch_max_records: int = 2000
    fanout_poll_timeout_ms: int = 50
    # The checks group's fetch may wait this long to fill a larger batch (Kafka only)
    checks_batch_wait_ms: int = 200
    celebrity_threshold: int = 10_000
    home_timeline_cap: int = 800
    home_trim_every: int = 400
    follow_backfill_count: int = 100
    # Lists: members per list (Twitter's 5,000); list timelines reuse the home cap and trims
    list_max_members: int = 5000
    # Readers: how stale the high-follower authors and their recent tweets may be, and which of
    # them each user follows (readers/celebrities.py)
    celebrity_cache_s: float = 1.0
    followed_celebrities_cache_s: float = 60.0
    # Inactive followers: fan-out skips followers who have not read their home timeline for
    # inactive_after_s (0 never skips); readers rebuild a returning user's home timeline.
    inactive_after_s: int = 2_592_000
    activity_cache_s: float = 10.0
    activity_touch_s: float = 3600.0
    activity_margin_s: float = 2.0
    trends_cache_s: float = 5.0
    projection_cache_rows: int = 100_000
    # Live streams (Server-Sent Events) of the readers
    stream_queue_max: int = 256
    stream_write_timeout_s: float = 10.0
    stream_heartbeat_s: float = 15.0
    stream_commit_poll_ms: int = 20
    stream_held_max: int = 100_000
    stream_resume_max: int = 1000
    stream_send_buffer_bytes: int = 0
    stream_max: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment (os.environ by default), then keyword overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, str(f.type), raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work."""
        if self.backend not in BACKENDS:
            raise ValueError(f"TIMELINE_BACKEND must be one of {BACKENDS}, got {self.backend!r}")
        if not 0 < self.worker_lease_renew_s < self.worker_lease_s:
            raise ValueError(
                "TIMELINE_WORKER_LEASE_RENEW_S must be > 0 and below TIMELINE_WORKER_LEASE_S"
            )
        if self.followup_wait_ms < 0:
            raise ValueError("TIMELINE_FOLLOWUP_WAIT_MS must be >= 0")
        if self.kafka_partitions < 1:
            raise ValueError("TIMELINE_KAFKA_PARTITIONS must be at least 1")
        activity = (self.activity_cache_s, self.activity_touch_s, self.activity_margin_s)
        if min(self.celebrity_cache_s, self.followed_celebrities_cache_s) < 0:
            raise ValueError(
                "TIMELINE_CELEBRITY_CACHE_S and _FOLLOWED_CELEBRITIES_CACHE_S must be >= 0"
            )
        if min(self.inactive_after_s, *activity) < 0:
            raise ValueError("TIMELINE_INACTIVE_AFTER_S and TIMELINE_ACTIVITY_*_S must be >= 0")
        if min(self.stream_queue_max, self.stream_held_max, self.stream_resume_max) < 1:
            raise ValueError("TIMELINE_STREAM_QUEUE_MAX, _HELD_MAX and _RESUME_MAX must be >= 1")
        if min(self.stream_write_timeout_s, self.stream_heartbeat_s) <= 0:
            raise ValueError("TIMELINE_STREAM_WRITE_TIMEOUT_S and _HEARTBEAT_S must be > 0")
        if self.list_max_members < 1:
            raise ValueError("TIMELINE_LIST_MAX_MEMBERS must be at least 1")
        if self.idempotency_lease_s <= 0:
            raise ValueError("TIMELINE_IDEMPOTENCY_LEASE_S must be > 0")
        if self.request_read_timeout_s <= 0:
            raise ValueError("TIMELINE_REQUEST_READ_TIMEOUT_S must be > 0")
        limits = (self.max_in_flight, self.admission_wait_ms, self.admission_max_lag_ms)
        if min(*limits, self.log_min_free_bytes) < 0:
            raise ValueError(
                "TIMELINE_MAX_IN_FLIGHT, _ADMISSION_WAIT_MS, _ADMISSION_MAX_LAG_MS and "
                "_LOG_MIN_FREE_BYTES must be >= 0"
            )
        if min(self.stream_max, self.projection_cache_rows) < 1:
            raise ValueError("TIMELINE_STREAM_MAX and TIMELINE_PROJECTION_CACHE_ROWS must be >= 1")
        if self.log_format not in ("json", "text"):
            raise ValueError("TIMELINE_LOG_FORMAT must be json or text")
        if self.cassandra_native not in ("on", "off"):
            raise ValueError(
                f"TIMELINE_CASSANDRA_NATIVE must be on or off, got {self.cassandra_native!r}"
            )
        if self.access_log not in ("on", "off"):
            raise ValueError(f"TIMELINE_ACCESS_LOG must be on or off, got {self.access_log!r}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"TIMELINE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        from engine.auth import AUTH_MODES, parse_tokens
        from engine.limits import parse_limits

        if self.auth not in AUTH_MODES:
            raise ValueError(f"TIMELINE_AUTH must be one of {AUTH_MODES}, got {self.auth!r}")
        if parse_tokens(self.tokens) and self.auth == "off":
            raise ValueError("TIMELINE_AUTH=off and TIMELINE_TOKENS contradict: set only one")
        parse_limits(self.rate_limits)


SECRET_SETTINGS = frozenset({"tokens"})  # shown as set or not, never printed


def describe(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> list[tuple[str, str, str]]:
    """(variable, value, where it came from: default, environment or a flag) of every
    setting, in declaration order; secrets are shown only as set or not."""
    env = os.environ if environ is None else environ
    settings = Settings.from_env(env, **overrides)
    rows = []
    for f in dataclasses.fields(Settings):
        name = PREFIX + f.name.upper()
        value = getattr(settings, f.name)
        if f.name in overrides:
            source = "flag"
        elif name in env:
            source = "environment"
        else:
            source = "default"
        if isinstance(value, tuple):
            shown = ",".join(map(str, value))
        else:
            shown = str(value)
        if f.name in SECRET_SETTINGS:
            shown = "(set)" if value else "(empty)"
        rows.append((name, shown, source))
    return rows


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each TIMELINE_* variable no setting reads (a misspelling is otherwise
    silently ignored), naming the nearest setting."""
    env = os.environ if environ is None else environ
    known = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    warnings = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known or name.startswith(INFRA_PREFIX):
            continue
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else ""
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def _convert(name: str, type_name: str, raw: str) -> Any:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError as e:
        raise ValueError(f"{PREFIX}{name.upper()}={raw!r} is not a valid {type_name}") from e
