"""Each acsylla error becomes one engine error through the conversion cassandra-driver's
go through (errors.py): retriable only when it may pass."""

from __future__ import annotations

import pytest

from engine.adapters.cassandra import native
from engine.adapters.cassandra.errors import native_errors, store_error
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
