"""One conversion of the drivers' errors (cassandra-driver's, acsylla's) into the engine's:
retriable or permanent.

A timeout, a missing replica, an overloaded or starting node and a lost connection may pass
when tried again (StoreUnavailable, retriable); a refused statement (syntax, invalid query,
schema, permissions, a statement still unprepared after the driver re-prepared it) and any
error this module does not know cannot, and are StoreRejected, which no consumer retries.
Which statements a driver may itself send again, to another node, is_idempotent says.
"""

from __future__ import annotations

import re

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

try:
    from acsylla import errors as native_errors  # the driver of native.py
except ImportError:  # no build for this platform: native.py is not used
    native_errors = None

# acsylla's errors that may pass likewise: a timeout, a missing replica, an overloaded or
# starting node, a lost connection, a full queue.
_NATIVE_TRANSIENT_NAMES = (
    "CassErrorLibRequestTimedOut",
    "CassErrorLibNoHostsAvailable",
    "CassErrorLibUnableToConnect",
    "CassErrorLibWriteError",
    "CassErrorLibRequestQueueFull",
    "CassErrorLibNoStreams",
    "CassErrorLibNoAvailableIoThread",
    "CassErrorServerUnavailable",
    "CassErrorServerOverloaded",
    "CassErrorServerIsBootstrapping",
    "CassErrorServerReadTimeout",
    "CassErrorServerWriteTimeout",
    "CassErrorServerReadFailure",
    "CassErrorServerWriteFailure",
    "CassErrorServerTruncateError",
    "CassErrorSslClosed",
    "CassExceptionConnectionError",
)
NATIVE_TRANSIENT: tuple[type[BaseException], ...] = tuple(
    getattr(native_errors, name)
    for name in _NATIVE_TRANSIENT_NAMES
    if native_errors is not None and hasattr(native_errors, name)
)

TRANSIENT: tuple[type[BaseException], ...] = (
    *NATIVE_TRANSIENT,
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
    """The engine error for a driver error (cassandra-driver's or acsylla's) raised by `op`;
    raise it `from e`."""
    if isinstance(e, TimelineError):
        return e
    if isinstance(e, TRANSIENT):
        return StoreUnavailable(f"Cassandra {op} failed: {e}")
    return StoreRejected(f"Cassandra refused {op}: {type(e).__name__}: {e}")


_CONDITION_RE = re.compile(r"\bIF\b", re.IGNORECASE)


def is_idempotent(cql: str) -> bool:
    """Whether running a statement twice has the effect of running it once, so that a driver
    may send it again to another node when the connection it went out on fails (a node
    stopping or crashing) instead of failing the request: a read, or a write at its event's
    time (USING TIMESTAMP: the engine's upserts and deletes) that is no lightweight
    transaction (IF ...: a second try would see its own first one)."""
    text = cql.lstrip().upper()
    if _CONDITION_RE.search(text):
        return False
    return text.startswith("SELECT") or "USING TIMESTAMP" in text
