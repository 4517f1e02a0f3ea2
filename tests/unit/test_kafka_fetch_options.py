"""How long the broker may hold a consumer's fetch: briefly unless the consumer gathers."""

from __future__ import annotations

import pytest

from engine.adapters.kafka.log import FETCH_MAX_WAIT_MS, GATHER_BYTES, KafkaConsumer
from engine.config import Settings

pytestmark = pytest.mark.unit


async def _revoked() -> None:
    return None


def consumer(gather_ms: int) -> KafkaConsumer:
    settings = Settings(backend="kafka-cassandra")
    return KafkaConsumer(settings, "g", ("tweets", "graph"), _revoked, gather_ms=gather_ms)


def test_a_consumer_that_does_not_gather_is_never_held_long_by_an_idle_partition() -> None:
    """A fetch of idle partitions alone would hold the busy ones' next fetch for as long as
    the broker holds it (bench/kafka_fetch.py): Kafka's 500 ms default is not kept."""
    assert consumer(0)._fetch_options() == {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS}
    assert FETCH_MAX_WAIT_MS <= 100


def test_a_gathering_consumer_waits_for_its_time_not_for_size() -> None:
    assert consumer(200)._fetch_options() == {
        "fetch_min_bytes": GATHER_BYTES,
        "fetch_max_wait_ms": 200,
    }
