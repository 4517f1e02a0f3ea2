"""The IngestRegistry port: atomic case-insensitive handle claims and idempotency keys."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from engine.errors import Conflict
from engine.ports import Backend, StoredResponse
from tests.contract.conftest import IDEMPOTENCY_TTL_S
from tests.contract.helpers import user


def scope_key() -> tuple[str, str]:
    return f"caller POST /v1/tweets {uuid.uuid4().hex}", uuid.uuid4().hex


async def test_a_claimed_handle_registers_its_user(backend: Backend) -> None:
    alice = user()
    assert await backend.registry.claim_handle(alice)
    assert await backend.registry.registered_user(alice.id) == alice
    assert await backend.registry.handle_owner(alice.handle.upper()) == alice.id


async def test_the_same_user_may_claim_its_handle_again(backend: Backend) -> None:
    alice = user()
    assert await backend.registry.claim_handle(alice)
    assert await backend.registry.claim_handle(alice)


async def test_a_handle_is_unique_whatever_its_case(backend: Backend) -> None:
    alice = user()
    rival = dataclasses.replace(user(), handle=alice.handle.upper())
    assert await backend.registry.claim_handle(alice)
    assert not await backend.registry.claim_handle(rival)
    assert await backend.registry.handle_owner(alice.handle) == alice.id
    assert await backend.registry.registered_user(rival.id) is None


async def test_concurrent_claims_of_one_handle_have_one_winner(backend: Backend) -> None:
    handle = user().handle
    rivals = [dataclasses.replace(user(), handle=handle) for _ in range(8)]
    won = await asyncio.gather(*(backend.registry.claim_handle(u) for u in rivals))
    assert sum(won) == 1
    winner = rivals[won.index(True)]
    assert await backend.registry.handle_owner(handle) == winner.id


async def test_release_frees_the_handle_for_someone_else(backend: Backend) -> None:
    alice = user()
    await backend.registry.claim_handle(alice)
    await backend.registry.release_handle(alice)
    assert await backend.registry.handle_owner(alice.handle) is None
    assert await backend.registry.registered_user(alice.id) is None
    assert await backend.registry.claim_handle(dataclasses.replace(user(), handle=alice.handle))


async def test_only_the_owner_can_release_a_handle(backend: Backend) -> None:
    alice = user()
    await backend.registry.claim_handle(alice)
    await backend.registry.release_handle(dataclasses.replace(user(), handle=alice.handle))
    assert await backend.registry.handle_owner(alice.handle) == alice.id


async def test_unknown_users_and_handles_are_none(backend: Backend) -> None:
    assert await backend.registry.registered_user(user().id) is None
    assert await backend.registry.handle_owner(user().handle) is None


async def test_an_idempotency_key_is_new_then_busy_then_answered(backend: Backend) -> None:
    scope, key = scope_key()
    answer = StoredResponse(202, b"\x81\xa2id\xa11")
    assert await backend.registry.begin_idempotent(scope, key) is None
    with pytest.raises(Conflict) as busy:
        await backend.registry.begin_idempotent(scope, key)
    assert busy.value.code == "idempotency_busy"
    await backend.registry.finish_idempotent(scope, key, answer)
    assert await backend.registry.begin_idempotent(scope, key) == answer
    assert await backend.registry.begin_idempotent(scope + " other", key) is None


async def test_abort_forgets_a_pending_key_but_not_an_answered_one(backend: Backend) -> None:
    scope, key = scope_key()
    await backend.registry.begin_idempotent(scope, key)
    await backend.registry.abort_idempotent(scope, key)
    assert await backend.registry.begin_idempotent(scope, key) is None
    answer = StoredResponse(201, b"done")
    await backend.registry.finish_idempotent(scope, key, answer)
    await backend.registry.abort_idempotent(scope, key)
    assert await backend.registry.begin_idempotent(scope, key) == answer


async def test_concurrent_begins_of_one_key_have_one_owner(backend: Backend) -> None:
    scope, key = scope_key()
    tries = await asyncio.gather(
        *(backend.registry.begin_idempotent(scope, key) for _ in range(6)),
        return_exceptions=True,
    )
    assert tries.count(None) == 1
    assert all(isinstance(t, Conflict) for t in tries if t is not None)


async def test_idempotency_answers_expire_after_their_ttl(backend: Backend) -> None:
    scope, key = scope_key()
    await backend.registry.begin_idempotent(scope, key)
    await backend.registry.finish_idempotent(scope, key, StoredResponse(201, b"x"))
    await asyncio.sleep(IDEMPOTENCY_TTL_S + 1.5)
    assert await backend.registry.begin_idempotent(scope, key) is None
