"""The IngestRegistry port's Idempotency-Key records: short leases, drafted events, answers."""

from __future__ import annotations

import asyncio
import uuid

from engine.ports import Backend, IngestRegistry, StoredResponse
from tests.contract.conftest import IDEMPOTENCY_TTL_S

LEASE_S = 5.0
SHORT_LEASE_S = 0.3
FP = b"\x01" * 32
OTHER_FP = b"\x02" * 32
ANSWER = StoredResponse(202, b"\x81\xa2id\xa11")


def scope_key() -> tuple[str, str]:
    return f"caller POST /v1/tweets {uuid.uuid4().hex}", uuid.uuid4().hex


def owner() -> str:
    return uuid.uuid4().hex


async def held(registry: IngestRegistry, scope: str, key: str, lease_s: float = LEASE_S) -> str:
    """A new owner that holds the key's lease."""
    me = owner()
    record = await registry.claim_idempotent(scope, key, FP, me, lease_s)
    assert record.owner == me and not record.done
    return me


async def test_a_new_key_is_leased_to_its_first_request(backend: Backend) -> None:
    scope, key = scope_key()
    me = owner()
    record = await backend.registry.claim_idempotent(scope, key, FP, me, LEASE_S)
    assert (record.owner, record.fingerprint, record.done, record.events) == (me, FP, False, None)
    assert record.response is None


async def test_a_leased_key_is_not_given_to_another_request(backend: Backend) -> None:
    scope, key = scope_key()
    first = await held(backend.registry, scope, key)
    record = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert record.owner == first and not record.done
    other = await backend.registry.claim_idempotent(scope, key, OTHER_FP, owner(), LEASE_S)
    assert (other.owner, other.fingerprint) == (first, FP)


async def test_a_finished_key_answers_with_its_answer(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    await backend.registry.finish_idempotent(scope, key, me, ANSWER)
    record = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert record.done and record.response == ANSWER and record.fingerprint == FP
    fresh = await backend.registry.claim_idempotent(scope + " other", key, FP, owner(), LEASE_S)
    assert not fresh.done


async def test_a_released_key_is_usable_again_at_once(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    await backend.registry.release_idempotent(scope, key, me)
    retry = owner()
    record = await backend.registry.claim_idempotent(scope, key, FP, retry, LEASE_S)
    assert record.owner == retry and record.events is None


async def test_an_abandoned_lease_frees_the_key_when_it_expires(backend: Backend) -> None:
    scope, key = scope_key()
    first = await held(backend.registry, scope, key, SHORT_LEASE_S)
    busy = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert busy.owner == first
    await asyncio.sleep(SHORT_LEASE_S + 0.3)
    retry = owner()
    record = await backend.registry.claim_idempotent(scope, key, FP, retry, LEASE_S)
    assert record.owner == retry


async def test_renewing_keeps_the_lease_and_only_its_owner_may(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key, SHORT_LEASE_S)
    assert await backend.registry.renew_idempotent(scope, key, me, LEASE_S)
    assert not await backend.registry.renew_idempotent(scope, key, owner(), LEASE_S)
    await asyncio.sleep(SHORT_LEASE_S + 0.3)
    record = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert record.owner == me  # renewed past the short lease
    await backend.registry.finish_idempotent(scope, key, me, ANSWER)
    assert not await backend.registry.renew_idempotent(scope, key, me, LEASE_S)


async def test_drafted_events_are_kept_for_a_retry_of_the_same_request(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    assert not await backend.registry.draft_idempotent(scope, key, owner(), b"no", ANSWER)
    assert await backend.registry.draft_idempotent(scope, key, me, b"events", ANSWER)
    await backend.registry.release_idempotent(scope, key, me)
    other = await backend.registry.claim_idempotent(scope, key, OTHER_FP, owner(), LEASE_S)
    assert other.owner == me and other.fingerprint == FP  # not another request's to append
    retry = owner()
    record = await backend.registry.claim_idempotent(scope, key, FP, retry, LEASE_S)
    assert (record.owner, record.events, record.response) == (retry, b"events", ANSWER)
    assert not record.done


async def test_an_abandoned_key_without_drafted_events_is_anyones(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    await backend.registry.release_idempotent(scope, key, me)
    other = owner()
    record = await backend.registry.claim_idempotent(scope, key, OTHER_FP, other, LEASE_S)
    assert (record.owner, record.fingerprint) == (other, OTHER_FP)


async def test_only_the_owner_finishes_or_releases(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    await backend.registry.release_idempotent(scope, key, owner())
    await backend.registry.finish_idempotent(scope, key, owner(), ANSWER)
    record = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert record.owner == me and not record.done


async def test_concurrent_claims_of_one_key_have_one_owner(backend: Backend) -> None:
    scope, key = scope_key()
    owners = [owner() for _ in range(6)]
    records = await asyncio.gather(
        *(backend.registry.claim_idempotent(scope, key, FP, o, LEASE_S) for o in owners)
    )
    winners = {r.owner for r in records}
    assert len(winners) == 1 and winners <= set(owners)


async def test_idempotency_answers_expire_after_their_ttl(backend: Backend) -> None:
    scope, key = scope_key()
    me = await held(backend.registry, scope, key)
    await backend.registry.finish_idempotent(scope, key, me, StoredResponse(201, b"x"))
    await asyncio.sleep(IDEMPOTENCY_TTL_S + 1.5)
    record = await backend.registry.claim_idempotent(scope, key, FP, owner(), LEASE_S)
    assert not record.done and record.response is None
