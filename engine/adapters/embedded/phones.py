"""The embedded phone book: each phone claimed, and marked registered, in one transaction."""

from __future__ import annotations

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.rows import (
    Conn,
    fetch_one,
)
from engine.events import PhoneRegistered, encode
from engine.ports import (
    Claim,
    PhoneBook,
)
from engine.registrations import PENDING, REGISTERED, claim_from_row


class EmbeddedPhones(OnDb, PhoneBook):
    """Phone numbers, each claimed, and marked registered, in one transaction."""

    async def claim_phone(self, event: PhoneRegistered) -> Claim[PhoneRegistered]:
        row = await self.db.write("claim_phone", lambda c: _claim_phone(c, event))
        return claim_from_row(PhoneRegistered, *row)

    async def mark_registered(self, event: PhoneRegistered) -> None:
        sql = "UPDATE phones SET state = ? WHERE phone = ? AND user_id = ?"
        params = (REGISTERED, event.phone, event.user_id)
        await self.db.write("claim_phone", lambda c: c.execute(sql, params))

    async def phone_claim(self, phone: str) -> Claim[PhoneRegistered] | None:
        sql = "SELECT user_id, event, state FROM phones WHERE phone = ?"
        row = await self.db.read("phone_owner", lambda c: fetch_one(c, sql, (phone,)))
        return claim_from_row(PhoneRegistered, *row) if row else None

    async def phone_owner(self, phone: str) -> int | None:
        claim = await self.phone_claim(phone)
        return claim.user_id if claim is not None and claim.registered else None


def _claim_phone(conn: Conn, event: PhoneRegistered) -> tuple[int, bytes | None, str | None]:
    """The holder's (user id, event, state): this event's, pending, if the number was free."""
    sql = "SELECT user_id, event, state FROM phones WHERE phone = ?"
    holder = fetch_one(conn, sql, (event.phone,))
    if holder is not None:
        return int(holder[0]), holder[1], holder[2]
    blob = encode(event)
    conn.execute(
        "INSERT INTO phones (phone, user_id, event, state) VALUES (?, ?, ?, ?)",
        (event.phone, event.user_id, blob, PENDING),
    )
    return event.user_id, blob, PENDING
