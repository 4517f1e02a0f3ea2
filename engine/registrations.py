"""Handles and phone numbers: claimed for good, registered by rolling the claim forward.

The log is the source of truth, and the claim row is what decides between two claimants.
Registering a name (a handle, or a phone number) runs

    claim (lightweight transaction: the row keeps the whole pending event) -> append -> mark

and nothing ever releases a claim. Whoever meets a pending claim afterwards (a second
registration of the name, a lookup of the name or of the user, a retry) settles it: it appends
the event kept in the claim, the same event id, user id and name, and marks the claim
registered once the log acknowledged it. If the log cannot take it, that request fails as
Unavailable (503, retriable) and the claim stays pending; no timer ever settles one, because
only the log can say whether an append whose answer was lost has landed (Kafka may deliver a
record after the producer gave up on it).

Why a name can never map to two users: the lightweight transaction lets exactly one event win
a name, and claims are never released, so no other event for that name is ever appended; the
only records that carry the name are that one event, written by the first claimant or
re-appended by whoever settles its claim. Those are the same event (one event id), and every
projection upserts it by its id and user id, so a late original and a re-append are one user.
The two registrations cannot race each other in the log (`user_registered` is keyed by user
id, so two users' events could sit in different partitions with no order between them): the
claim, not the log order, decides. And no user is ever seen that the log does not hold: a
pending claim is not a registered user (the registry does not return it, ingest takes it for
no author, follower or followee) until its event has been acknowledged by the log; the views
show it only once the event is there, since they are made from the log alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from engine.errors import StoreUnavailable
from engine.events import Event, PhoneRegistered, UserRegistered, decode
from engine.ids import id_ms
from engine.ports import Backend, Claim, ClaimEvent, EventLog
from engine.records import User

logger = logging.getLogger(__name__)
PENDING = "pending"
REGISTERED = "registered"


def claim_from_row(
    kind: type[ClaimEvent], user_id: int, event: bytes | None, state: str | None
) -> Claim[ClaimEvent]:
    """A claim from a stored row (user id, encoded event, state); a row from before events
    were kept has neither event nor state, and counts as registered."""
    found = decode(event) if event is not None else None
    if found is not None and not isinstance(found, kind):
        raise TypeError(f"a {kind.type_name} claim holds a {found.type_name} event")
    return Claim(int(user_id), found, state != PENDING)


Append = Callable[[Event], Awaitable[bool]]
"""Appends an event: True once the log acknowledged it, False if it was only drafted (inside
a request with an Idempotency-Key, whose events are appended after they are kept with it)."""


def appender(log: EventLog) -> Append:
    """Append straight to the log."""

    async def append(event: Event) -> bool:
        await log.append(event)
        return True

    return append


async def settle(
    append: Append, mark: Callable[[ClaimEvent], Awaitable[None]], claim: Claim[ClaimEvent]
) -> Claim[ClaimEvent]:
    """The claim, registered: a pending one's event appended (again) and the claim marked.

    Once the log acknowledged the event the registration has happened, whatever the store
    says: a claim the store could not mark stays pending, and the next to meet it appends
    the same event once more and marks it then. An append that was only drafted marks
    nothing: the claim stays pending until its request has appended it and someone meets it.
    """
    if claim.registered or claim.event is None:
        return claim
    if not await append(claim.event):
        return claim
    try:
        await mark(claim.event)
    except StoreUnavailable as e:
        logger.warning("a %s claim stays pending after its append: %s", claim.event.type_name, e)
    return Claim(claim.user_id, claim.event, True)


async def mark_appended(backend: Backend, events: Sequence[Event]) -> None:
    """Mark the claims of registrations the log has just acknowledged (a keyed request's
    drafted events, appended after they were kept with the key), so that no one who meets
    the name later appends the event once more. A claim the store cannot mark stays
    pending, as in `settle`."""
    for event in events:
        try:
            if isinstance(event, UserRegistered):
                await backend.registry.mark_registered(event)
            elif isinstance(event, PhoneRegistered):
                await backend.phones.mark_registered(event)
        except StoreUnavailable as e:
            logger.warning("a %s claim stays pending after its append: %s", event.type_name, e)


async def register_handle(
    backend: Backend, event: UserRegistered, append: Append
) -> Claim[UserRegistered]:
    """Claim the event's handle and settle whichever claim holds it: the holder. The event's
    own claim is appended with `append`; another's straight to the log."""
    registry = backend.registry
    holder = await registry.claim_handle(event)
    own = append if holder.user_id == event.user_id else appender(backend.log)
    return await settle(own, registry.mark_registered, holder)


async def register_phone(
    backend: Backend, event: PhoneRegistered, append: Append
) -> Claim[PhoneRegistered]:
    """Claim the event's phone number and settle whichever claim holds it: the holder (the
    event's own claim appended with `append`, another's straight to the log)."""
    phones = backend.phones
    holder = await phones.claim_phone(event)
    own = append if holder.user_id == event.user_id else appender(backend.log)
    return await settle(own, phones.mark_registered, holder)


async def handle_owner(backend: Backend, handle: str) -> int | None:
    """The registered user holding a handle (a pending claim settled first), or None."""
    claim = await backend.registry.handle_claim(handle)
    if claim is None:
        return None
    return (await settle(appender(backend.log), backend.registry.mark_registered, claim)).user_id


async def registered_user(backend: Backend, user_id: int) -> User | None:
    """The registered user with this id (a pending claim settled first), or None."""
    claim = await backend.registry.user_claim(user_id)
    if claim is None:
        return None
    if claim.event is None:  # a claim from before events were kept
        return await backend.registry.registered_user(user_id)
    event = (await settle(appender(backend.log), backend.registry.mark_registered, claim)).event
    assert event is not None
    return User(event.user_id, event.handle, event.display_name, id_ms(event.user_id))


async def phone_owner(backend: Backend, phone: str) -> int | None:
    """The registered user a phone number belongs to (a pending claim settled first), or None."""
    claim = await backend.phones.phone_claim(phone)
    if claim is None:
        return None
    return (await settle(appender(backend.log), backend.phones.mark_registered, claim)).user_id
