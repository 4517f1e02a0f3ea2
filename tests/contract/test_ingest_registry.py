"""The IngestRegistry port: case-insensitive handle claims, never released."""

from __future__ import annotations

import asyncio
import uuid

from engine.events import UserRegistered
from engine.ids import id_ms
from engine.ports import Backend, Claim
from engine.records import User
from tests.contract.conftest import Reopen
from tests.contract.helpers import new_id, now_us, user


def scope_key() -> tuple[str, str]:
    return f"caller POST /v1/tweets {uuid.uuid4().hex}", uuid.uuid4().hex


def registered(handle: str | None = None) -> UserRegistered:
    """The event of a new user's registration."""
    u = user(handle)
    return UserRegistered(new_id(), now_us(), u.id, u.handle, u.display_name)


def user_of(event: UserRegistered) -> User:
    return User(event.user_id, event.handle, event.display_name, id_ms(event.user_id))


async def test_a_claim_is_pending_with_its_event_until_marked(backend: Backend) -> None:
    alice = registered()
    pending = Claim(alice.user_id, alice, False)
    assert await backend.registry.claim_handle(alice) == pending
    assert await backend.registry.handle_claim(alice.handle.upper()) == pending
    assert await backend.registry.user_claim(alice.user_id) == pending
    assert await backend.registry.registered_user(alice.user_id) is None
    assert await backend.registry.handle_owner(alice.handle) is None
    await backend.registry.mark_registered(alice)
    done = Claim(alice.user_id, alice, True)
    assert await backend.registry.handle_claim(alice.handle) == done
    assert await backend.registry.user_claim(alice.user_id) == done
    assert await backend.registry.registered_user(alice.user_id) == user_of(alice)
    assert await backend.registry.handle_owner(alice.handle.upper()) == alice.user_id
    await backend.registry.mark_registered(alice)
    assert await backend.registry.handle_claim(alice.handle) == done


async def test_claiming_the_same_event_again_returns_its_claim(backend: Backend) -> None:
    alice = registered()
    first = await backend.registry.claim_handle(alice)
    assert await backend.registry.claim_handle(alice) == first


async def test_a_rival_gets_the_claim_that_holds_the_handle(backend: Backend) -> None:
    alice = registered()
    rival = registered(alice.handle.upper())
    await backend.registry.claim_handle(alice)
    assert await backend.registry.claim_handle(rival) == Claim(alice.user_id, alice, False)
    assert await backend.registry.user_claim(rival.user_id) is None
    await backend.registry.mark_registered(alice)
    assert await backend.registry.claim_handle(rival) == Claim(alice.user_id, alice, True)
    assert await backend.registry.handle_owner(alice.handle) == alice.user_id
    assert await backend.registry.registered_user(rival.user_id) is None


async def test_marking_a_rival_registered_does_not_take_the_handle(backend: Backend) -> None:
    alice = registered()
    rival = registered(alice.handle)
    await backend.registry.claim_handle(alice)
    await backend.registry.claim_handle(rival)
    await backend.registry.mark_registered(rival)
    assert await backend.registry.handle_claim(alice.handle) == Claim(alice.user_id, alice, False)
    assert await backend.registry.user_claim(rival.user_id) is None
    assert await backend.registry.registered_user(rival.user_id) is None


async def test_concurrent_claims_of_one_handle_have_one_winner(backend: Backend) -> None:
    handle = user().handle
    rivals = [registered(handle) for _ in range(8)]
    holders = await asyncio.gather(*(backend.registry.claim_handle(e) for e in rivals))
    assert len(set(holders)) == 1
    winner = holders[0].event
    assert winner in rivals and holders[0] == Claim(winner.user_id, winner, False)
    assert await backend.registry.handle_claim(handle) == holders[0]
    losers = [e for e in rivals if e != winner]
    assert [await backend.registry.user_claim(e.user_id) for e in losers] == [None] * 7


async def test_a_pending_claim_outlives_the_process(backend: Backend, reopen: Reopen) -> None:
    alice = registered()
    await backend.registry.claim_handle(alice)
    again = await reopen()
    assert await again.registry.handle_claim(alice.handle) == Claim(alice.user_id, alice, False)
    assert await again.registry.claim_handle(registered(alice.handle)) == Claim(
        alice.user_id, alice, False
    )


async def test_unknown_users_and_handles_are_none(backend: Backend) -> None:
    assert await backend.registry.registered_user(user().id) is None
    assert await backend.registry.handle_owner(user().handle) is None
    assert await backend.registry.user_claim(user().id) is None
    assert await backend.registry.handle_claim(user().handle) is None


async def test_a_scan_of_registered_users_leaves_pending_claims_out(backend: Backend) -> None:
    done, pending = registered(), registered()
    for event in (done, pending):
        await backend.registry.claim_handle(event)
    await backend.registry.mark_registered(done)
    scanned = [u async for page in backend.registry.scan_registered() for u in page]
    assert user_of(done) in scanned
    assert all(u.id != pending.user_id for u in scanned)
