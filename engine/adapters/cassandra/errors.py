"""One conversion of cassandra-driver errors into the engine's: retriable or permanent.

A timeout, a missing replica, an overloaded or starting node and a lost connection may pass
when tried again (StoreUnavailable, retriable); a refused statement (syntax, invalid query,
schema, permissions, a statement still unprepared after the driver re-prepared it) and any
error this module does not know cannot, and are StoreRejected, which no consumer retries.
"""

from __future__ import annotations

from cassandra import (
    CDCWriteFailure,
    CoordinationFailure,
    OperationTimedOut,
    Timeout,
)
from cassandra import (
    Unavailable as DriverUnavailable,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionBusy, ConnectionException
from cassandra.pool import NoConnectionsAvailable
from cassandra.protocol import (
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    TruncateError,
)

from engine.errors import StoreRejected, StoreUnavailable, TimelineError

TRANSIENT: tuple[type[BaseException], ...] = (
    DriverUnavailable,
    Timeout,
    CoordinationFailure,
    CDCWriteFailure,
    OperationTimedOut,
    NoHostAvailable,
    ConnectionException,
    ConnectionBusy,
    NoConnectionsAvailable,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
    TruncateError,
    ConnectionError,
    TimeoutError,
)


def store_error(e: BaseException, op: str) -> TimelineError:
    """The engine error for a driver error raised by `op`; raise it `from e`."""
    if isinstance(e, TimelineError):
        return e
    if isinstance(e, TRANSIENT):
        return StoreUnavailable(f"Cassandra {op} failed: {e}")
    return StoreRejected(f"Cassandra refused {op}: {type(e).__name__}: {e}")
