"""The embedded ingest registry: handle claims, the user registry and idempotency keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.keys import claim_key, purge_keys, update_owned
from engine.adapters.embedded.rows import SCAN_PAGE, Conn, add_columns, fetch_all, fetch_one
from engine.events import UserRegistered, encode
from engine.idempotency import OwnedKeyUpdates
from engine.ids import id_ms
from engine.ports import (
    Claim,
    IngestRegistry,
    KeyRecord,
)
from engine.records import User
from engine.registrations import PENDING, REGISTERED, claim_from_row
from engine.text import handle_key

PURGE_EVERY_S = 3600.0
CLAIM_COLUMNS = {"event": "BLOB", "state": "TEXT"}


class EmbeddedRegistry(OwnedKeyUpdates, OnDb, IngestRegistry):
    """Handle claims, the user registry and idempotency keys, each change one transaction."""

    TRUE, NULL = "1", "NULL"
    _purged_at = float("-inf")

    async def start(self) -> None:
        await super().start()
        await self.db.write("upgrade", _upgrade)
        await self._purge()

    async def _purge(self) -> None:
        """Forget expired idempotency keys (at start, then at most once an hour)."""
        now = time.monotonic()
        if now - self._purged_at >= PURGE_EVERY_S:
            self._purged_at = now
            await self.db.write("idempotency", purge_keys)

    async def claim_handle(self, event: UserRegistered) -> Claim[UserRegistered]:
        row = await self.db.write("claim_handle", lambda c: _claim(c, event))
        return claim_from_row(UserRegistered, *row)

    async def mark_registered(self, event: UserRegistered) -> None:
        await self.db.write("mark_registered", lambda c: _mark(c, event))

    async def handle_claim(self, handle: str) -> Claim[UserRegistered] | None:
        sql = "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?"
        row = await self.db.read("handle_owner", lambda c: fetch_one(c, sql, (handle_key(handle),)))
        return claim_from_row(UserRegistered, *row) if row else None

    async def user_claim(self, user_id: int) -> Claim[UserRegistered] | None:
        sql = "SELECT event, state FROM user_registry WHERE user_id = ?"
        row = await self.db.read("registered_user", lambda c: fetch_one(c, sql, (user_id,)))
        return claim_from_row(UserRegistered, user_id, *row) if row else None

    async def registered_user(self, user_id: int) -> User | None:
        row = await self.db.read(
            "registered_user",
            lambda c: fetch_one(
                c,
                "SELECT handle, display_name, created_ms FROM user_registry "
                "WHERE user_id = ? AND state IS NOT 'pending'",
                (user_id,),
            ),
        )
        return User(user_id, *row) if row else None

    async def scan_registered(self) -> AsyncIterator[list[User]]:
        sql = (
            "SELECT user_id, handle, display_name, created_ms FROM user_registry "
            "WHERE state IS NOT 'pending'"
        )
        rows = await self.db.read("scan", lambda c: fetch_all(c, sql))
        for start in range(0, len(rows), SCAN_PAGE):
            yield [User(*r) for r in rows[start : start + SCAN_PAGE]]

    async def claim_idempotent(
        self, scope: str, key: str, fingerprint: bytes, owner: str, lease_s: float
    ) -> KeyRecord:
        await self._purge()
        claim, ttl = (fingerprint, owner, lease_s), self.settings.idempotency_ttl_s
        return await self.db.write("idempotency", lambda c: claim_key(c, scope, key, claim, ttl))

    async def _owned(self, scope: str, key: str, owner: str, sets: str, *values: Any) -> bool:
        where = (scope, key, self.settings.idempotency_ttl_s)
        return await self.db.write(
            "idempotency", lambda c: update_owned(c, where, owner, sets, *values)
        )


def _claim(conn: Conn, event: UserRegistered) -> tuple[int, bytes | None, str | None]:
    """The holder's (user id, event, state): this event's, pending, if the handle was free."""
    key = handle_key(event.handle)
    sql = "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?"
    holder = fetch_one(conn, sql, (key,))
    if holder is not None:
        return int(holder[0]), holder[1], holder[2]
    blob = encode(event)
    conn.execute(
        "INSERT INTO handle_claims (handle_key, user_id, event, state) VALUES (?, ?, ?, ?)",
        (key, event.user_id, blob, PENDING),
    )
    _put_registry(conn, event, blob, PENDING)
    return event.user_id, blob, PENDING


def _mark(conn: Conn, event: UserRegistered) -> None:
    marked = conn.execute(
        "UPDATE handle_claims SET state = ? WHERE handle_key = ? AND user_id = ?",
        (REGISTERED, handle_key(event.handle), event.user_id),
    )
    if marked.rowcount:  # the claim is this user's
        _put_registry(conn, event, encode(event), REGISTERED)


def _put_registry(conn: Conn, event: UserRegistered, blob: bytes, state: str) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO user_registry "
        "(user_id, handle, display_name, created_ms, event, state) VALUES (?, ?, ?, ?, ?, ?)",
        (event.user_id, event.handle, event.display_name, id_ms(event.user_id), blob, state),
    )


def _upgrade(conn: Conn) -> None:
    """Claims made before claims kept their event get the columns, and count as registered
    (the phone claims of the phones adapter too: they live in this file)."""
    for table in ("handle_claims", "user_registry", "phones"):
        add_columns(conn, table, CLAIM_COLUMNS)
