"""A page's reads and grouped writes through acsylla (engine/adapters/cassandra/native.py), on
the real node: the same rows as cassandra-driver's, counted as requests, errors converted the
same way."""

from __future__ import annotations

import pytest

from engine.adapters.cassandra import native
from engine.adapters.cassandra.session import CqlSession, routing_key_of
from engine.adapters.cassandra.timelines import _HOME_ROWS
from engine.config import Settings
from engine.errors import StoreRejected, StoreUnavailable
from engine.metrics import Metrics

pytestmark = pytest.mark.skipif(not native.available(), reason="acsylla has no build here")

_PUT = "INSERT INTO home_timeline (user_id, tweet_id, author_id, body) VALUES (?, ?, ?, ?)"
_USER_PAGE = (
    "SELECT body FROM user_timeline WHERE user_id = ? AND tweet_id <= ? AND tweet_id > ? LIMIT ?"
)


def _requests(cql: CqlSession, op: str) -> float:
    value = cql.metrics.registry.get_sample_value("timeline_cassandra_requests_total", {"op": op})
    return value or 0.0


async def test_a_page_read_natively_is_the_page_cassandra_driver_reads(cql: CqlSession) -> None:
    """Ids, blobs, nulls, bounds and LIMIT: read() and run() give the same tuples."""
    owner = 7_000_000_000_000_000_001
    tweet_ids = [1 << 62 | n for n in range(30)]
    for n, tweet_id in enumerate(tweet_ids):
        body = None if n % 3 == 0 else bytes([n]) * (n + 1)
        await cql.run(_PUT, (owner, tweet_id, 10_000 + n, body))
    queries = [
        (owner, (1 << 63) - 1, 0, 21),
        (owner, tweet_ids[20], tweet_ids[4], 50),  # a window: max_id and since_id
        (owner, tweet_ids[0] - 1, 0, 5),  # below every row: empty
        (owner + 1, (1 << 63) - 1, 0, 21),  # nobody's partition: empty
    ]
    for params in queries:
        before = _requests(cql, "page")
        natively = await cql.read(_HOME_ROWS, params, op="page")
        assert _requests(cql, "page") == before + 1
        assert natively == await cql.run(_HOME_ROWS, params, op="page")
    first = await cql.read(_HOME_ROWS, queries[0], op="page")
    assert [r[0] for r in first] == sorted(tweet_ids, reverse=True)[:21]
    assert all(isinstance(r, tuple) for r in first)
    assert first[-1][2] is None or isinstance(first[-1][2], bytes)


async def test_a_refused_read_is_a_rejection_and_counts_as_an_error(cql: CqlSession) -> None:
    before = cql.metrics.registry.get_sample_value("timeline_store_errors_total", {"op": "page"})
    with pytest.raises(StoreRejected):
        await cql.read("SELECT nothing_here FROM home_timeline WHERE user_id = ?", (1,), op="page")
    after = cql.metrics.registry.get_sample_value("timeline_store_errors_total", {"op": "page"})
    assert after == (before or 0.0) + 1


async def test_reads_go_through_cassandra_driver_when_the_native_client_is_off(
    cql_settings: Settings,
) -> None:
    settings = Settings.from_env(
        {},
        backend="kafka-cassandra",
        cassandra_hosts=cql_settings.cassandra_hosts,
        cassandra_port=cql_settings.cassandra_port,
        cassandra_keyspace=cql_settings.cassandra_keyspace,
        cassandra_native="off",
    )
    session = CqlSession(settings, Metrics())
    await session.start()
    try:
        rows = await session.read(_USER_PAGE, (1, (1 << 63) - 1, 0, 20), op="page")
        assert rows == []
        assert not native.NativeClient(settings)._prepared  # nothing native was made
        assert session._native is None
    finally:
        await session.stop()


async def test_no_node_to_reach_is_unavailable() -> None:
    settings = Settings.from_env(
        {},
        backend="kafka-cassandra",
        cassandra_hosts=("127.0.0.1",),
        cassandra_port=1,  # nothing listens there
        cassandra_request_timeout_s=2.0,
    )
    reads = native.NativeClient(settings)
    with pytest.raises(StoreUnavailable):
        await reads.start()
    await reads.stop()


_PUT_HOME = (
    "INSERT INTO home_timeline (user_id, tweet_id, author_id) VALUES (?, ?, ?) USING TIMESTAMP ?"
)
_DELETE_HOME = "DELETE FROM home_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?"
_ROWS = "SELECT tweet_id, author_id FROM home_timeline WHERE user_id = ?"


async def test_grouped_writes_go_natively_and_land_as_cassandra_driver_reads_them(
    cql: CqlSession,
) -> None:
    """Upserts and deletes over many partitions, with their timestamps: a delete older than
    a row leaves it, a newer one removes it; one request a batch, counted under its op."""
    owners = [8_000_000_000_000_000_000 + n for n in range(40)]
    writes = [
        (_PUT_HOME, (owner, 1 << 60 | t, 500 + t, 1_000 + t), 48)
        for owner in owners
        for t in range(5)
    ]
    before = _requests(cql, "home_write")
    await cql.write_grouped(writes, op="home_write")
    batches = _requests(cql, "home_write") - before
    assert 1 <= batches < len(writes) / 10
    for owner in owners[:3]:
        rows = await cql.run(_ROWS, (owner,))
        assert sorted(rows) == [(1 << 60 | t, 500 + t) for t in range(5)]
    deletes = [(_DELETE_HOME, (999, owners[0], 1 << 60 | 0), 48)]  # older than the row
    deletes += [(_DELETE_HOME, (2_000, owners[1], 1 << 60 | t), 48) for t in range(5)]
    await cql.write_grouped(deletes, op="home_delete")
    assert len(await cql.run(_ROWS, (owners[0],))) == 5
    assert await cql.run(_ROWS, (owners[1],)) == []


async def test_a_refused_grouped_write_is_a_rejection(cql: CqlSession) -> None:
    with pytest.raises(StoreRejected):
        await cql.write_grouped([(_PUT_HOME, (1, 2, "not a number", 3), 48)], op="home_write")


async def test_routing_keys_are_the_bound_statements(cql: CqlSession) -> None:
    """The key write_grouped serializes alone is the one a bound statement has, for a
    single-column partition key and for a composite one (bound whole)."""
    single = await cql.prepare(_PUT_HOME)
    params = (8_000_000_000_000_000_123, 7, 9, 10)
    assert routing_key_of(single)(params) == single.bind(params).routing_key
    composite = await cql.prepare(
        "INSERT INTO hashtag_timeline (tag, day, tweet_id, body) VALUES (?, ?, ?, ?)"
    )
    values = ("ტვიტერი", 20_000, 7, b"x")
    assert routing_key_of(composite)(values) == composite.bind(values).routing_key
