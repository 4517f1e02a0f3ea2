"""The PhoneBook port: a phone number belongs to one user, claimed atomically."""

from __future__ import annotations

import asyncio
import random

from engine.ports import Backend
from tests.contract.helpers import new_ids


def phone() -> str:
    return f"+995{random.randrange(10**9):09d}"


async def test_a_claimed_phone_has_its_owner(backend: Backend) -> None:
    number, (alice,) = phone(), new_ids(1)
    assert await backend.phones.claim_phone(number, alice)
    assert await backend.phones.claim_phone(number, alice)
    assert await backend.phones.phone_owner(number) == alice
    assert await backend.phones.phone_owner(phone()) is None


async def test_concurrent_claims_of_one_phone_have_one_winner(backend: Backend) -> None:
    number, users = phone(), new_ids(6)
    won = await asyncio.gather(*(backend.phones.claim_phone(number, u) for u in users))
    assert sum(won) == 1
    assert await backend.phones.phone_owner(number) == users[won.index(True)]
