"""Handles and phone numbers: a claim whose append's fate is unknown is settled by the log.

A claim is never released; whoever meets a pending one appends its own event again (the same
event id) before answering, so a name maps to one event in the log and one user.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engine.errors import LogUnavailable, StoreUnavailable
from engine.events import GRAPH_TOPIC, Event, PhoneRegistered, UserRegistered, decode_all
from engine.text import handle_key
from ingest.operations import UNKNOWN_HANDLE_S, Writer
from tests.support import Api, eventually, unique_handle

Append = Callable[[Event], Awaitable[None]]


async def logged_events(engine: Any, topic: str = GRAPH_TOPIC) -> list[Event]:
    """Every event the log holds on a topic, read from its start to its end offsets now."""
    async with engine.backend.tail([topic]) as tail:
        ends = await tail.end_offsets()
        await tail.seek({tp: 0 for tp in ends})
        read = dict.fromkeys(ends, 0)
        events: list[Event] = []

        async def more() -> bool:
            for record in await tail.poll(5000, 200):
                read[(record.topic, record.partition)] = record.offset + 1
                events.extend(decode_all(record.value))  # a record may hold a pack of posts
            return all(read[tp] >= end for tp, end in ends.items())

        await eventually(more, bool, 60)
    return events


def registrations_of(events: list[Event], handle: str) -> list[UserRegistered]:
    """The user_registered records that carry a handle (case-insensitive)."""
    key = handle_key(handle)
    return [e for e in events if isinstance(e, UserRegistered) and handle_key(e.handle) == key]


def log_down(monkeypatch: pytest.MonkeyPatch, engine: Any, *, lands: bool) -> None:
    """Appends answer LogUnavailable; with `lands`, after the record was appended anyway (a
    producer that gave up on a record the log did take)."""
    original: Append = engine.backend.log.append

    async def failing(event: Event) -> None:
        if lands:
            await original(event)
        raise LogUnavailable("the log did not acknowledge the append")

    monkeypatch.setattr(engine.backend.log, "append", failing)


@pytest.mark.parametrize("lands", [False, True], ids=["lost", "landed"])
async def test_a_pending_handle_is_settled_for_its_first_claimant(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch, lands: bool
) -> None:
    handle = unique_handle("pend")
    with monkeypatch.context() as patch:
        log_down(patch, engine, lands=lands)
        failed = await api.call("POST", "/v1/users", 503, json={"handle": handle})
        assert failed["error"]["code"] == "log_unavailable"
        claim = await engine.backend.registry.handle_claim(handle)
        assert claim is not None and not claim.registered
        first = str(claim.user_id)
        # pending is not registered: while the log is down, nobody can use it, nor find it
        # unless its event landed (then the users projection has it, from the log)
        if not lands:
            await api.call("GET", f"/v1/users/by_handle/{handle}", 503)
        await api.call("POST", "/v1/tweets", 503, json={"author_id": first, "text": "hi"})
        await api.call("POST", "/v1/users", 503, json={"handle": handle.upper()})
    taken = await api.call("POST", "/v1/users", 409, json={"handle": handle.upper()})
    assert taken["error"]["code"] == "handle_taken"
    assert (await api.get(f"/v1/users/by_handle/{handle}"))["id"] == first
    await api.call("POST", "/v1/tweets", 202, json={"author_id": first, "text": "hi"})
    logged = registrations_of(await logged_events(engine), handle)
    assert {(e.event_id, e.user_id) for e in logged} == {(claim.event.event_id, claim.user_id)}
    if not lands:  # each try while down appended it again, if appends land: the same event
        assert len(logged) == 1
    await eventually(
        lambda: engine.backend.users.get_user_by_handle(handle),
        lambda u: u is not None and u.id == claim.user_id,
    )


async def test_a_pending_user_is_settled_when_looked_up_by_id(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = unique_handle("byid")
    with monkeypatch.context() as patch:
        log_down(patch, engine, lands=False)
        await api.call("POST", "/v1/users", 503, json={"handle": handle})
    claim = await engine.backend.registry.handle_claim(handle)
    assert (await api.get(f"/v1/users/{claim.user_id}"))["handle"] == handle
    assert await engine.backend.registry.handle_owner(handle) == claim.user_id
    logged = registrations_of(await logged_events(engine), handle)
    assert [e.event_id for e in logged] == [claim.event.event_id]


def a_phone() -> str:
    return f"+7702{uuid.uuid4().int % 10**7:07d}"


@pytest.mark.parametrize("lands", [False, True], ids=["lost", "landed"])
async def test_a_pending_phone_is_settled_for_its_first_claimant(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch, lands: bool
) -> None:
    me, rival, phone = await api.user(), await api.user(), a_phone()
    with monkeypatch.context() as patch:
        log_down(patch, engine, lands=lands)
        await api.call("PUT", f"/v1/users/{me['id']}/phone", 503, json={"phone": phone})
        await api.call("PUT", f"/v1/users/{rival['id']}/phone", 503, json={"phone": phone})
        sms = {"from": phone, "to": "40404", "text": "from my phone"}
        await api.call("POST", "/v1/sms/inbound", 503, json=sms)
    taken = await api.call("PUT", f"/v1/users/{rival['id']}/phone", 409, json={"phone": phone})
    assert taken["error"]["code"] == "phone_taken"
    assert (await api.call("POST", "/v1/sms/inbound", 200, json=sms))["status"] == "ok"
    await eventually(
        lambda: api.get(f"/v1/users/{me['id']}/tweets"),
        lambda page: [t["text"] for t in page["tweets"]] == ["from my phone"],
    )
    again = await api.call("PUT", f"/v1/users/{me['id']}/phone", 200, json={"phone": phone})
    assert again == {"user_id": me["id"], "phone": phone}
    logged = [
        e
        for e in await logged_events(engine)
        if isinstance(e, PhoneRegistered) and e.phone == phone
    ]
    assert {(e.event_id, e.user_id) for e in logged} == {(logged[0].event_id, int(me["id"]))}
    if not lands:
        assert len(logged) == 1


async def test_an_acknowledged_registration_stands_when_its_mark_fails(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def store_down(event: Event) -> None:
        raise StoreUnavailable("the store did not answer")

    handle = unique_handle("mark")
    with monkeypatch.context() as patch:
        patch.setattr(engine.backend.registry, "mark_registered", store_down)
        alice = await api.call("POST", "/v1/users", 201, json={"handle": handle})
    claim = await engine.backend.registry.handle_claim(handle)
    assert (claim.user_id, claim.registered) == (int(alice["id"]), False)
    await api.call("POST", "/v1/tweets", 202, json={"author_id": alice["id"], "text": "hi"})
    assert (await engine.backend.registry.handle_claim(handle)).registered
    logged = registrations_of(await logged_events(engine), handle)
    assert {(e.event_id, e.user_id) for e in logged} == {(claim.event.event_id, claim.user_id)}


async def test_a_fresh_ingest_learns_registered_users_from_the_registry(
    api: Api, engine: Any
) -> None:
    """What an ingest process does before it serves: its first posts by users registered
    before it started read no registry (and the warm stops at the cache's size)."""
    users = [await api.user() for _ in range(3)]
    live = engine.ingest.writer
    fresh = Writer(engine.backend, live.ids, live.limiter, live.checks)
    assert await fresh.warm_from_registry(30.0) >= len(users)
    for u in users:
        assert fresh._users.knows(int(u["id"]))
        assert fresh._handles.peek(handle_key(u["handle"])) == int(u["id"])
        known = await fresh.known_user(int(u["id"]))
        assert (known.handle, known.display_name) == (u["handle"], u["display_name"])

    small = Writer(engine.backend, live.ids, live.limiter, live.checks)
    small._users.size = 2
    assert await small.warm_from_registry(30.0) == 2
    assert len(small._users) == 2


async def test_a_mention_of_an_unheld_handle_is_read_once_for_a_while(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Posts naming a handle nobody holds ask the registry once per UNKNOWN_HANDLE_S: a handle
    registered through this ingest is linked at once, through another once that time passed;
    a direct message to a handle always asks."""
    live = engine.ingest.writer
    other = Writer(engine.backend, live.ids, live.limiter, live.checks)  # another ingest
    now = [1000.0]
    monkeypatch.setattr(live._unknown_handles, "clock", lambda: now[0])
    reads: list[str] = []
    handle_claim = engine.backend.registry.handle_claim

    async def counted(handle: str) -> Any:
        reads.append(handle)
        return await handle_claim(handle)

    monkeypatch.setattr(engine.backend.registry, "handle_claim", counted)
    author, first, later = await api.user(), unique_handle(), unique_handle()

    async def mentioned(text: str) -> list[dict[str, Any]]:
        return (await api.tweet(author, text))["entities"]["mentions"]

    assert await mentioned(f"@{first} hi") == [] and await mentioned(f"@{first} again") == []
    assert reads.count(handle_key(first)) == 1
    # registered through this ingest: linked at once
    mine = await api.user(first)
    assert await mentioned(f"@{first} hi") == [{"id": mine["id"], "handle": first}]

    assert await mentioned(f"@{later} hi") == []
    registered = await other.register_user({"handle": later})
    assert await mentioned(f"@{later} still") == []  # another ingest's, within the time
    message = {"author_id": author["id"], "text": f"d {later} hi"}
    refused = await api.call("POST", "/v1/tweets", 403, json=message)
    assert refused["error"]["code"] == "not_followed"  # found: a direct message always asks
    now[0] += UNKNOWN_HANDLE_S
    assert await mentioned(f"@{later} now") == [{"id": str(registered.id), "handle": later}]
