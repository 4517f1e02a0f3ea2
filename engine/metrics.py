"""Prometheus metrics behind one object that holds them together."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)


class Metrics:
    """Every metric of one process, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.events_appended = Counter(
            "timeline_events_appended_total",
            "Events acknowledged by the log.",
            ["type"],
            registry=r,
        )
        self.append_seconds = Histogram(
            "timeline_append_seconds",
            "Time for the log to acknowledge an append.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.append_errors = Counter(
            "timeline_append_errors_total",
            "Appends the log did not acknowledge.",
            ["reason"],
            registry=r,
        )
        self.http_requests = Counter(
            "timeline_http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "timeline_http_request_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "timeline_errors_total", "Error answers by stable error code.", ["code"], registry=r
        )
        self.consumed = Counter(
            "timeline_consumer_events_total",
            "Events applied by a consumer group.",
            ["group", "type"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "timeline_consumer_lag",
            "Records in the log not yet committed by the group.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.batch_records = Histogram(
            "timeline_consumer_batch_records",
            "Records per consumed batch.",
            ["group"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "timeline_consumer_batch_seconds",
            "Time a consumed batch took from its poll to its commit: decoding, the projection's "
            "writes and the commit (the fan-out's share of delivery is about two of these).",
            ["group"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rows_written = Counter(
            "timeline_fanout_rows_written_total", "Projection rows written.", ["table"], registry=r
        )
        self.home_rows_skipped = Counter(
            "timeline_fanout_home_rows_skipped_total",
            "Home-timeline rows not written because the follower is inactive.",
            registry=r,
        )
        self.home_rebuilds = Counter(
            "timeline_home_rebuilds_total",
            "Home timelines rebuilt before a read: on return, or again while settling.",
            ["reason"],
            registry=r,
        )
        self.streams_open = Gauge(
            "timeline_streams_open", "Live streams (SSE) open.", ["kind"], registry=r
        )
        self.stream_events = Counter(
            "timeline_stream_events_sent_total",
            "Events written to live streams (kind backlog: sent on a resume).",
            ["kind"],
            registry=r,
        )
        self.stream_cutoffs = Counter(
            "timeline_stream_cutoffs_total",
            "Live streams the server closed, by reason.",
            ["reason"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "timeline_delivery_seconds",
            "From the append of a tweet to its rows being written in home timelines.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "timeline_store_errors_total", "Store operations that failed.", ["op"], registry=r
        )
        self.cassandra_requests = Counter(
            "timeline_cassandra_requests_total",
            "Requests sent to Cassandra (a batch counts once), by the adapter's operation.",
            ["op"],
            registry=r,
        )
        self.poison_events = Counter(
            "timeline_poison_events_total",
            "Events that could not be decoded.",
            ["group"],
            registry=r,
        )
        self.consumer_blocked = Gauge(
            "timeline_consumer_blocked",
            "1 while a group's partition is stopped at an event too new for this version.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.id_worker = Gauge(
            "timeline_id_worker",
            "The Snowflake worker id this process holds a lease on.",
            registry=r,
        )
        self.id_mark = Gauge(
            "timeline_id_mark_seconds",
            "Unix time up to which this process may issue ids (its lease's mark).",
            registry=r,
        )
        self.lease_renewals = Counter(
            "timeline_id_lease_renewals_total",
            "Renewals of the worker-id lease, by outcome (ok, failed, lost).",
            ["outcome"],
            registry=r,
        )

        self.requests_shed = Counter(
            "timeline_http_requests_shed_total",
            "Requests answered 503 overloaded: no in-flight slot freed within the wait.",
            registry=r,
        )
        self.requests_in_flight = Gauge(
            "timeline_http_requests_in_flight",
            "Requests holding an admission slot.",
            registry=r,
        )
        self.read_timeouts = Counter(
            "timeline_http_read_timeouts_total",
            "Connections dropped because a request body did not arrive in time.",
            registry=r,
        )
        self.streams_refused = Counter(
            "timeline_streams_refused_total",
            "Live streams refused because the process holds its maximum.",
            registry=r,
        )
        self.log_writable = Gauge(
            "timeline_log_writable",
            "1 when the last probe found the log able to take an append, else 0.",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
