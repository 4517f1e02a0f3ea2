"""Idempotency keys in SQLite: each change is one transaction of the store's writer thread.

A row is kept until expires_s (TIMELINE_IDEMPOTENCY_TTL_S after its last write); its lease is
owner and lease_until_ms, compared with the wall clock inside the transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from typing import Any

from engine.idempotency import claimable, lease_deadline, now_ms
from engine.ports import KeyRecord, StoredResponse

Conn = sqlite3.Connection
_COLUMNS = "fingerprint, owner, lease_until_ms, events, status, body, done"


def read_key(conn: Conn, scope: str, key: str) -> KeyRecord | None:
    """The live record of a key, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM idempotency_keys WHERE scope = ? AND key = ? AND expires_s > ?",
        (scope, key, time.time()),
    ).fetchone()
    return None if row is None else _record(row)


def _record(row: tuple[Any, ...]) -> KeyRecord:
    fingerprint, owner, until, events, status, body, done = row
    response = None if status is None else StoredResponse(status, body)
    return KeyRecord(fingerprint, owner, until, events, response, bool(done))


def claim_key(
    conn: Conn, scope: str, key: str, claim: tuple[bytes, str, float], ttl_s: int
) -> KeyRecord:
    """Lease the key to claim's owner if the rule allows; the record after."""
    fingerprint, owner, lease_s = claim
    found = read_key(conn, scope, key)
    if found is not None and not claimable(found, fingerprint, owner, now_ms()):
        return found
    until = lease_deadline(lease_s)
    if found is None:
        conn.execute(
            "INSERT OR REPLACE INTO idempotency_keys "
            "(scope, key, fingerprint, owner, lease_until_ms, expires_s) VALUES (?, ?, ?, ?, ?, ?)",
            (scope, key, fingerprint, owner, until, time.time() + ttl_s),
        )
        return KeyRecord(fingerprint, owner, until)
    assignments = "fingerprint = ?, owner = ?, lease_until_ms = ?"
    _update(conn, (scope, key, ttl_s), assignments, fingerprint, owner, until)
    return dataclasses.replace(found, fingerprint=fingerprint, owner=owner, lease_until_ms=until)


def update_owned(
    conn: Conn, where: tuple[str, str, int], owner: str, assignments: str, *values: Any
) -> bool:
    """Apply `assignments` to owner's key (scope, key, ttl_s) if it is not done; whether it was."""
    found = read_key(conn, where[0], where[1])
    if found is None or found.done or found.owner != owner:
        return False
    _update(conn, where, assignments, *values)
    return True


def _update(conn: Conn, where: tuple[str, str, int], assignments: str, *values: Any) -> None:
    scope, key, ttl_s = where
    conn.execute(
        f"UPDATE idempotency_keys SET {assignments}, expires_s = ? WHERE scope = ? AND key = ?",
        (*values, time.time() + ttl_s, scope, key),
    )


def purge_keys(conn: Conn) -> None:
    """Forget expired keys."""
    conn.execute("DELETE FROM idempotency_keys WHERE expires_s <= ?", (time.time(),))
