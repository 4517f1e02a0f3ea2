"""The rule both registries apply when a request asks for an Idempotency-Key's lease."""

from __future__ import annotations

import time

from engine.ports import KeyRecord, StoredResponse


def now_ms() -> int:
    """The wall clock in Unix milliseconds (leases are compared across processes)."""
    return int(time.time() * 1000)


def lease_deadline(lease_s: float) -> int:
    """The deadline of a lease taken or renewed now."""
    return now_ms() + int(lease_s * 1000)


def claimable(record: KeyRecord, fingerprint: bytes, owner: str, at_ms: int) -> bool:
    """Whether owner may take the lease of a kept key at at_ms.

    Never once the answer is final. A lease that has not expired belongs to its owner (the
    same owner may take it again). An expired lease is free, but drafted events belong to
    the request that drafted them: only a request with the same fingerprint may append them.
    """
    if record.done:
        return False
    if record.lease_until_ms > at_ms and record.owner != owner:
        return False
    return record.events is None or record.fingerprint == fingerprint


class OwnedKeyUpdates:
    """The updates of a kept key that only its lease's owner may make, written once for both
    registries; each says how it applies a SET clause under the owner's condition, and how
    its SQL dialect spells true and null."""

    TRUE = "true"
    NULL = "null"

    async def _owned(self, scope: str, key: str, owner: str, sets: str, *values: object) -> bool:
        """Apply `sets` (with its values) if owner holds the key's lease; whether it did."""
        raise NotImplementedError

    async def renew_idempotent(self, scope: str, key: str, owner: str, lease_s: float) -> bool:
        return await self._owned(scope, key, owner, "lease_until_ms = ?", lease_deadline(lease_s))

    async def draft_idempotent(
        self, scope: str, key: str, owner: str, events: bytes, response: StoredResponse
    ) -> bool:
        sets = "events = ?, status = ?, body = ?"
        return await self._owned(scope, key, owner, sets, events, response.status, response.body)

    async def finish_idempotent(
        self, scope: str, key: str, owner: str, response: StoredResponse
    ) -> None:
        sets = f"done = {self.TRUE}, events = {self.NULL}, status = ?, body = ?, lease_until_ms = 0"
        await self._owned(scope, key, owner, sets, response.status, response.body)

    async def release_idempotent(self, scope: str, key: str, owner: str) -> None:
        await self._owned(scope, key, owner, "lease_until_ms = 0")
