"""Each cassandra-driver error becomes one engine error: retriable only when it may pass."""

from __future__ import annotations

import pytest
from cassandra import (
    AlreadyExists,
    AuthenticationFailed,
    ConfigurationException,
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.protocol import (
    OverloadedErrorMessage,
    PreparedQueryNotFound,
    ServerError,
    SyntaxException,
)

from engine.adapters.cassandra import CqlSession
from engine.adapters.cassandra.errors import store_error
from engine.config import Settings
from engine.errors import LeaseLost, StoreRejected, StoreUnavailable
from engine.metrics import Metrics

TRANSIENT = [
    Unavailable("down", ConsistencyLevel.QUORUM, 2, 1),
    ReadTimeout("slow", consistency=ConsistencyLevel.ONE, required_responses=1),
    WriteTimeout("slow", consistency=ConsistencyLevel.ONE, write_type=0),
    ReadFailure("failed", failures=1),
    OperationTimedOut(errors={}, last_host="127.0.0.1"),
    NoHostAvailable("no host", {}),
    ConnectionShutdown("closed"),
    OverloadedErrorMessage(0x1001, "overloaded", None),
    ConnectionRefusedError("refused"),
    TimeoutError(),
]
PERMANENT = [
    InvalidRequest("bad"),
    SyntaxException(0x2000, "line 1: no viable alternative", None),
    Unauthorized("no grant"),
    AuthenticationFailed("bad credentials"),
    ConfigurationException("no keyspace"),
    AlreadyExists(keyspace="ks", table="t"),
    PreparedQueryNotFound(0x2500, "unprepared", b"\x01"),
    ServerError(0x0000, "server bug", None),
    TypeError("bind() got 3 values for 2 columns"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_driver_errors_are_retriable(error: Exception) -> None:
    converted = store_error(error, "append")
    assert isinstance(converted, StoreUnavailable)
    assert converted.retriable and converted.code == "store_unavailable"
    assert "append" in converted.message


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent_driver_errors_are_not_retried(error: Exception) -> None:
    converted = store_error(error, "append")
    assert isinstance(converted, StoreRejected)
    assert not converted.retriable and converted.code == "store_rejected"
    assert type(error).__name__ in converted.message


def test_an_engine_error_passes_through_unchanged() -> None:
    lost = LeaseLost("gone")
    assert store_error(lost, "renew") is lost


class _RefusingSession:
    """A driver session whose statements fail as `error` says, at prepare or at execute."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def prepare(self, cql: str) -> object:
        raise self.error

    def execute_async(self, statement: object) -> object:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SyntaxException(0x2000, "bad", None), StoreRejected),
        (NoHostAvailable("x", {}), StoreUnavailable),
    ],
)
async def test_the_session_converts_errors_of_prepare_and_execute(
    error: Exception, expected: type[Exception]
) -> None:
    cql = CqlSession(Settings(), Metrics())
    cql._session = _RefusingSession(error)  # type: ignore[assignment]
    with pytest.raises(expected) as prepared:
        await cql.run("SELECT x FROM t WHERE k = ?", (1,), op="read")
    assert prepared.value.__cause__ is error
    with pytest.raises(expected):
        await cql.run_together([("UPDATE t SET x = ? WHERE k = ?", (1, 2))], op="write")
    assert not await cql.ping()
