"""Cassandra adapter for the phone book: phone claims by lightweight transaction."""

from __future__ import annotations

from engine.adapters.cassandra.base import OnSession
from engine.events import (
    PhoneRegistered,
    encode,
)
from engine.ports import (
    Claim,
    PhoneBook,
)
from engine.registrations import claim_from_row


class CassandraPhones(OnSession, PhoneBook):
    """Phone numbers claimed, and marked registered, by lightweight transaction."""

    async def claim_phone(self, event: PhoneRegistered) -> Claim[PhoneRegistered]:
        rows = await self.cql.run(
            "INSERT INTO phones (phone, user_id, event, state) VALUES (?, ?, ?, 'pending') "
            "IF NOT EXISTS",
            (event.phone, event.user_id, encode(event)),
            op="claim_phone",
        )
        if rows[0][0]:
            return Claim(event.user_id, event, False)
        # not applied: [applied], then the holder's phone, event, state, user_id
        return claim_from_row(PhoneRegistered, rows[0][-1], rows[0][2], rows[0][3])

    async def mark_registered(self, event: PhoneRegistered) -> None:
        await self.cql.run(
            "UPDATE phones SET state = 'registered' WHERE phone = ? IF user_id = ?",
            (event.phone, event.user_id),
            op="claim_phone",
        )

    async def phone_claim(self, phone: str) -> Claim[PhoneRegistered] | None:
        rows = await self.cql.run(
            "SELECT user_id, event, state FROM phones WHERE phone = ?", (phone,), op="phone_owner"
        )
        return claim_from_row(PhoneRegistered, *rows[0]) if rows else None

    async def phone_owner(self, phone: str) -> int | None:
        claim = await self.phone_claim(phone)
        return claim.user_id if claim is not None and claim.registered else None
