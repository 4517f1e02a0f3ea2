"""The IngestRegistry port: atomic case-insensitive handle claims."""

from __future__ import annotations

import asyncio
import dataclasses

from engine.ports import Backend
from tests.contract.helpers import user


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
