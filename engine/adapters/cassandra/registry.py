"""Cassandra adapter for the ingest registry: handle claims, registrations, idempotency keys."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from engine.adapters.cassandra.base import OnSession
from engine.events import UserRegistered, encode
from engine.idempotency import OwnedKeyUpdates, claimable, lease_deadline, now_ms
from engine.ids import id_ms
from engine.ports import (
    Claim,
    IngestRegistry,
    KeyRecord,
    StoredResponse,
)
from engine.records import User
from engine.registrations import PENDING, REGISTERED, claim_from_row
from engine.text import handle_key

CLAIM_TRIES = 3


class CassandraRegistry(OwnedKeyUpdates, OnSession, IngestRegistry):
    """Handle claims by lightweight transaction, the user registry, idempotency keys.

    A claim row keeps its pending event; it turns registered by a lightweight transaction
    too (never mixed with plain writes, whose client timestamps could lose to the Paxos
    ones). The user registry row, a plain write, is stamped with the event time when
    pending and one microsecond later when registered, so registered wins whatever the
    order or the clock of the processes that wrote them.
    """

    async def claim_handle(self, event: UserRegistered) -> Claim[UserRegistered]:
        rows = await self.cql.run(
            "INSERT INTO handle_claims (handle_key, user_id, event, state) "
            "VALUES (?, ?, ?, 'pending') IF NOT EXISTS",
            (handle_key(event.handle), event.user_id, encode(event)),
            op="claim_handle",
        )
        if not rows[0][0]:  # [applied], handle_key, event, state, user_id of the holder
            return claim_from_row(UserRegistered, rows[0][-1], rows[0][2], rows[0][3])
        await self._put_registry(event, PENDING, event.ts_us)
        return Claim(event.user_id, event, False)

    async def mark_registered(self, event: UserRegistered) -> None:
        rows = await self.cql.run(
            "UPDATE handle_claims SET state = 'registered' WHERE handle_key = ? IF user_id = ?",
            (handle_key(event.handle), event.user_id),
            op="mark_registered",
        )
        if rows[0][0]:  # the claim is this user's
            await self._put_registry(event, REGISTERED, event.ts_us + 1)

    async def _put_registry(self, event: UserRegistered, state: str, ts_us: int) -> None:
        await self.cql.run(
            "INSERT INTO user_registry (user_id, handle, display_name, created_ms, event, state) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            (
                event.user_id,
                event.handle,
                event.display_name,
                id_ms(event.user_id),
                encode(event),
                state,
                ts_us,
            ),
            op="register_user",
        )

    async def handle_claim(self, handle: str) -> Claim[UserRegistered] | None:
        rows = await self.cql.run(
            "SELECT user_id, event, state FROM handle_claims WHERE handle_key = ?",
            (handle_key(handle),),
            op="handle_owner",
        )
        return claim_from_row(UserRegistered, *rows[0]) if rows else None

    async def user_claim(self, user_id: int) -> Claim[UserRegistered] | None:
        rows = await self.cql.run(
            "SELECT event, state FROM user_registry WHERE user_id = ?",
            (user_id,),
            op="registered_user",
        )
        return claim_from_row(UserRegistered, user_id, *rows[0]) if rows else None

    async def registered_user(self, user_id: int) -> User | None:
        rows = await self.cql.run(
            "SELECT handle, display_name, created_ms, state FROM user_registry WHERE user_id = ?",
            (user_id,),
            op="registered_user",
        )
        if not rows or rows[0][3] == PENDING:
            return None
        return User(user_id, *rows[0][:3])

    async def scan_registered(self) -> AsyncIterator[list[User]]:
        cql = "SELECT user_id, handle, display_name, created_ms, state FROM user_registry"
        async for rows in self.cql.scan(cql, op="scan"):
            yield [User(u, h, n, c) for u, h, n, c, state in rows if state != PENDING]

    async def claim_idempotent(
        self, scope: str, key: str, fingerprint: bytes, owner: str, lease_s: float
    ) -> KeyRecord:
        found: KeyRecord | None = None
        for _ in range(CLAIM_TRIES):
            until = lease_deadline(lease_s)
            if await self._lwt(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, owner, lease_until_ms, "
                "done) VALUES (?, ?, ?, ?, ?, false) IF NOT EXISTS USING TTL ?",
                (scope, key, fingerprint, owner, until, self.cql.settings.idempotency_ttl_s),
            ):
                return KeyRecord(fingerprint, owner, until)
            found = await self._key(scope, key)
            if found is None:
                continue  # expired since the insert was refused
            if not claimable(found, fingerprint, owner, now_ms()):
                return found
            ttl, was = self.cql.settings.idempotency_ttl_s, (found.owner, found.lease_until_ms)
            if await self._lwt(
                "UPDATE idempotency_keys USING TTL ? SET fingerprint = ?, owner = ?, "
                "lease_until_ms = ? WHERE scope = ? AND key = ? "
                "IF owner = ? AND lease_until_ms = ? AND done = false",
                (ttl, fingerprint, owner, until, scope, key, *was),
            ):
                return dataclasses.replace(
                    found, fingerprint=fingerprint, owner=owner, lease_until_ms=until
                )
        return found or KeyRecord(fingerprint, "", lease_deadline(lease_s))  # contended

    async def _owned(self, scope: str, key: str, owner: str, sets: str, *values: object) -> bool:
        return await self._lwt(
            f"UPDATE idempotency_keys USING TTL ? SET {sets} WHERE scope = ? AND key = ? "
            "IF owner = ? AND done = false",
            (self.cql.settings.idempotency_ttl_s, *values, scope, key, owner),
        )

    async def _lwt(self, cql: str, params: tuple[object, ...]) -> bool:
        rows = await self.cql.run(cql, params, op="idempotency")
        return bool(rows[0][0])

    async def _key(self, scope: str, key: str) -> KeyRecord | None:
        rows = await self.cql.run(
            "SELECT fingerprint, owner, lease_until_ms, events, status, body, done "
            "FROM idempotency_keys WHERE scope = ? AND key = ?",
            (scope, key),
            op="idempotency",
        )
        if not rows:
            return None
        fingerprint, owner, until, events, status, body, done = rows[0]
        response = None if status is None else StoredResponse(status, body or b"")
        return KeyRecord(fingerprint or b"", owner or "", until or 0, events, response, bool(done))
