"""Each acsylla error becomes one engine error through the conversion cassandra-driver's
go through (errors.py): retriable only when it may pass."""

from __future__ import annotations

import pytest

from engine.adapters.cassandra import native
from engine.adapters.cassandra.errors import is_idempotent, native_errors, store_error
from engine.errors import LeaseLost, StoreRejected, StoreUnavailable

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not native.available(), reason="acsylla has no build here"),
]

TRANSIENT = [
    "CassErrorLibRequestTimedOut",
    "CassErrorLibNoHostsAvailable",
    "CassErrorServerUnavailable",
    "CassErrorServerReadTimeout",
    "CassErrorServerWriteTimeout",
    "CassErrorServerOverloaded",
    "CassErrorServerIsBootstrapping",
    "CassExceptionConnectionError",
]
PERMANENT = [
    "CassErrorServerInvalidQuery",
    "CassErrorServerSyntaxError",
    "CassErrorServerUnauthorized",
    "CassErrorServerConfigError",
    "CassErrorLibInvalidValueType",
]


@pytest.mark.parametrize("name", TRANSIENT)
def test_what_may_pass_is_unavailable(name: str) -> None:
    error = getattr(native_errors, name)("it happened")
    converted = store_error(error, "page")
    assert isinstance(converted, StoreUnavailable)
    assert "page" in converted.message


@pytest.mark.parametrize("name", PERMANENT)
def test_a_refusal_is_a_rejection(name: str) -> None:
    error = getattr(native_errors, name)("refused")
    assert isinstance(store_error(error, "page"), StoreRejected)


def test_an_unknown_error_is_a_rejection_and_an_engine_error_stays_itself() -> None:
    assert isinstance(store_error(ValueError("odd"), "page"), StoreRejected)
    assert isinstance(store_error(TimeoutError(), "page"), StoreUnavailable)
    lost = LeaseLost("gone")
    assert store_error(lost, "page") is lost


@pytest.mark.parametrize(
    ("cql", "idempotent"),
    [
        ("SELECT tweet_id FROM home_timeline WHERE user_id = ? LIMIT ?", True),
        ("INSERT INTO home_timeline (user_id, tweet_id, author_id) VALUES (?, ?, ?) "
         "USING TIMESTAMP ?", True),
        ("DELETE FROM tweets USING TIMESTAMP ? WHERE tweet_id = ?", True),
        ("INSERT INTO celebrities (shard, author_id) VALUES (0, ?)", False),  # no event time
        ("INSERT INTO handle_claims (handle_key, user_id) VALUES (?, ?) IF NOT EXISTS", False),
        ("UPDATE phones SET state = 'registered' WHERE phone = ? IF user_id = ?", False),
        ("DELETE owner FROM worker_leases WHERE worker = ? IF owner = ?", False),
        ("DELETE FROM home_timeline WHERE user_id = ? AND tweet_id <= ?", False),
    ],
)  # fmt: skip
def test_only_reads_and_timestamped_writes_may_be_sent_again(cql: str, idempotent: bool) -> None:
    assert is_idempotent(cql) is idempotent
