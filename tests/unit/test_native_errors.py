"""Each acsylla error becomes one engine error, as cassandra-driver's do (errors.py):
retriable only when it may pass."""

from __future__ import annotations

import pytest

from engine.adapters.cassandra import native
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
    error = getattr(native.native_errors, name)("it happened")
    converted = native.native_error(error, "page")
    assert isinstance(converted, StoreUnavailable)
    assert "page" in converted.message


@pytest.mark.parametrize("name", PERMANENT)
def test_a_refusal_is_a_rejection(name: str) -> None:
    error = getattr(native.native_errors, name)("refused")
    assert isinstance(native.native_error(error, "page"), StoreRejected)


def test_an_unknown_error_is_a_rejection_and_an_engine_error_stays_itself() -> None:
    assert isinstance(native.native_error(ValueError("odd"), "page"), StoreRejected)
    assert isinstance(native.native_error(TimeoutError(), "page"), StoreUnavailable)
    lost = LeaseLost("gone")
    assert native.native_error(lost, "page") is lost
