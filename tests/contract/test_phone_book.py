"""The PhoneBook port: a phone number belongs to one user for good, claimed atomically."""

from __future__ import annotations

import asyncio
import random

from engine.events import PhoneRegistered
from engine.ports import Backend, Claim
from tests.contract.conftest import Reopen
from tests.contract.helpers import new_id, new_ids, now_us


def phone() -> str:
    return f"+995{random.randrange(10**9):09d}"


def registered(number: str, user_id: int) -> PhoneRegistered:
    return PhoneRegistered(new_id(), now_us(), user_id, number)


async def test_a_claim_is_pending_with_its_event_until_marked(backend: Backend) -> None:
    number, (alice,) = phone(), new_ids(1)
    event = registered(number, alice)
    assert await backend.phones.claim_phone(event) == Claim(alice, event, False)
    assert await backend.phones.claim_phone(event) == Claim(alice, event, False)
    assert await backend.phones.phone_claim(number) == Claim(alice, event, False)
    assert await backend.phones.phone_owner(number) is None
    await backend.phones.mark_registered(event)
    assert await backend.phones.phone_claim(number) == Claim(alice, event, True)
    assert await backend.phones.phone_owner(number) == alice
    assert await backend.phones.phone_owner(phone()) is None
    assert await backend.phones.phone_claim(phone()) is None


async def test_a_rival_gets_the_claim_that_holds_the_phone(backend: Backend) -> None:
    number, (alice, rival) = phone(), new_ids(2)
    first, second = registered(number, alice), registered(number, rival)
    await backend.phones.claim_phone(first)
    assert await backend.phones.claim_phone(second) == Claim(alice, first, False)
    await backend.phones.mark_registered(second)
    assert await backend.phones.phone_claim(number) == Claim(alice, first, False)
    await backend.phones.mark_registered(first)
    assert await backend.phones.claim_phone(second) == Claim(alice, first, True)


async def test_concurrent_claims_of_one_phone_have_one_winner(backend: Backend) -> None:
    number = phone()
    events = [registered(number, u) for u in new_ids(6)]
    holders = await asyncio.gather(*(backend.phones.claim_phone(e) for e in events))
    assert len(set(holders)) == 1
    winner = holders[0].event
    assert winner in events and holders[0] == Claim(winner.user_id, winner, False)
    assert await backend.phones.phone_claim(number) == holders[0]


async def test_a_pending_claim_outlives_the_process(backend: Backend, reopen: Reopen) -> None:
    number, (alice,) = phone(), new_ids(1)
    event = registered(number, alice)
    await backend.phones.claim_phone(event)
    again = await reopen()
    assert await again.phones.phone_claim(number) == Claim(alice, event, False)
