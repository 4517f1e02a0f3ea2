"""The rule both registries apply when a request asks for an Idempotency-Key's lease."""

from __future__ import annotations

import time

from engine.ports import KeyRecord


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
