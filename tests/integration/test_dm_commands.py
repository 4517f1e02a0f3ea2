"""A mistyped direct-message command is sent as a DM or refused, never published."""

from __future__ import annotations

import uuid
from typing import Any

from engine.events import ALL_TOPICS
from tests.support import Api, eventually, settled

ZWSP = "\u200b"


def spellings(handle: str) -> list[str]:
    """The ways of typing `d <handle>` that were once published as tweets."""
    return [f"d @{handle}", f"d {handle}:", f"\uff44 {handle}", f"d {handle}{ZWSP}"]


async def post(api: Api, author: dict[str, Any], text: str, status: int) -> dict[str, Any]:
    body = {"author_id": author["id"], "text": text}
    return dict(await api.call("POST", "/v1/tweets", status, json=body))


async def log_end(engine: Any) -> int:
    """How many records every topic holds: it moves only when something is appended."""
    tail = engine.backend.tail(list(ALL_TOPICS))
    await tail.start()
    try:
        return sum((await tail.end_offsets()).values())
    finally:
        await tail.stop()


async def followed(api: Api, follower: dict[str, Any], followee: dict[str, Any]) -> None:
    await api.follow(follower, followee)
    await eventually(
        lambda: api.ids(f"/v1/users/{followee['id']}/followers", "users"),
        lambda ids: follower["id"] in ids,
    )


async def nowhere_public(api: Api, engine: Any, marker: str, users: list[dict[str, Any]]) -> None:
    """No public view holds a text with this marker (as a word and as a hashtag)."""
    await settled(engine)
    assert (await api.get("/v1/search/tweets", q=marker))["tweets"] == []
    assert (await api.get("/v1/search/tweets", q=f"#{marker}"))["tweets"] == []
    assert await api.ids(f"/v1/hashtags/{marker}/tweets") == []
    trends = await api.get("/v1/trends", window="5m", count=50)
    assert marker.lower() not in {t["hashtag"].lower() for t in trends["trends"]}
    for user in users:
        assert await api.ids(f"/v1/users/{user['id']}/mentions") == [], user["handle"]
        for tweet in (await api.home(user, count=200))["tweets"]:
            assert marker not in tweet["text"], user["handle"]
        for tweet in (await api.get(f"/v1/users/{user['id']}/tweets", count=200))["tweets"]:
            assert marker not in tweet["text"], user["handle"]


async def test_mistyped_commands_are_sent_as_direct_messages(api: Api, engine: Any) -> None:
    alice, dave, fan, carol = [await api.user() for _ in range(4)]
    await followed(api, dave, alice)
    await followed(api, fan, alice)
    marker = f"dm{uuid.uuid4().hex[:10]}"
    texts = [f"{s} {marker} #{marker} @{carol['handle']}" for s in spellings(dave["handle"])]
    sent = []
    for text in texts:
        answer = await api.call(
            "POST", "/v1/tweets", 202, json={"author_id": alice["id"], "text": text}
        )
        assert answer["recipient_id"] == dave["id"], text
        assert answer["text"] == f"{marker} #{marker} @{carol['handle']}"
        sent.append(answer["id"])
    batch = await api.call(
        "POST",
        "/v1/tweets/batch",
        202,
        json={"tweets": [{"author_id": alice["id"], "text": t} for t in texts]},
    )
    assert [r["recipient_id"] for r in batch["results"]] == [dave["id"]] * len(texts)
    sent += [r["id"] for r in batch["results"]]
    await api.wait_ids(f"/v1/users/{dave['id']}/direct_messages", sent, "messages")
    await nowhere_public(api, engine, marker, [alice, dave, fan, carol])
    for message_id in sent:
        await api.call("GET", f"/v1/tweets/{message_id}", 404)


async def test_commands_that_cannot_be_sent_are_refused_and_write_nothing(
    api: Api, engine: Any
) -> None:
    alice, stranger, fan = [await api.user() for _ in range(3)]
    await followed(api, fan, alice)
    marker = f"dm{uuid.uuid4().hex[:10]}"
    nobody = f"n{uuid.uuid4().hex[:12]}"
    commands = [*spellings(nobody), "d Вася", "d ნინო", "D Nobody\uff3f1"]
    refused = {f"{c} {marker} #{marker}": "invalid_direct_message" for c in commands}
    refused[f"d @{alice['handle']}:"] = "invalid_direct_message"  # nothing to send
    refused[f"d {fan['handle']}{ZWSP} {ZWSP}"] = "invalid_direct_message"
    refused[f"D @{alice['handle']} {marker} to myself"] = "cannot_message_self"
    before = await log_end(engine)
    for text, code in refused.items():
        err = await api.call(
            "POST", "/v1/tweets", 400, json={"author_id": alice["id"], "text": text}
        )
        assert err["error"]["code"] == code, text
    # a real user who does not follow the sender: the existing refusal, still never published
    for spelling in spellings(stranger["handle"]):
        text = f"{spelling} {marker} #{marker}"
        err = await api.call(
            "POST", "/v1/tweets", 403, json={"author_id": alice["id"], "text": text}
        )
        assert err["error"]["code"] == "not_followed", text
        refused[text] = "not_followed"
    batch = await api.call(
        "POST",
        "/v1/tweets/batch",
        202,
        json={"tweets": [{"author_id": alice["id"], "text": t} for t in refused]},
    )
    assert [r["error"]["code"] for r in batch["results"]] == list(refused.values())
    assert await log_end(engine) == before, "a refused command was appended"
    await nowhere_public(api, engine, marker, [alice, stranger, fan])


async def test_sms_commands_follow_the_same_rule(api: Api, engine: Any) -> None:
    me, dave = await api.user(), await api.user()
    await followed(api, dave, me)
    phone = f"+7702{uuid.uuid4().int % 10**7:07d}"
    await api.call("PUT", f"/v1/users/{me['id']}/phone", 200, json={"phone": phone})
    marker = f"dm{uuid.uuid4().hex[:10]}"

    async def sms(text: str) -> dict[str, Any]:
        body = {"from": phone, "to": "40404", "text": text}
        return dict(await api.call("POST", "/v1/sms/inbound", 200, json=body))

    for spelling in spellings(dave["handle"]):
        answer = await sms(f"{spelling} {marker}")
        assert answer == {"reply": f"Message sent to @{dave['handle']}.", "status": "ok"}
    before = await log_end(engine)
    for spelling in spellings(f"n{uuid.uuid4().hex[:12]}"):
        answer = await sms(f"{spelling} {marker}")
        assert (answer["status"], answer["code"]) == ("refused", "invalid_direct_message")
    assert await log_end(engine) == before
    await eventually(
        lambda: api.ids(f"/v1/users/{dave['id']}/direct_messages", "messages"),
        lambda ids: len(ids) == 4,
    )
    await nowhere_public(api, engine, marker, [me, dave])


async def test_d_and_d_tonight_stays_a_tweet(api: Api) -> None:
    author = await api.user()
    tweet = await api.tweet(author, "D & D tonight")
    assert tweet["author_id"] == author["id"] and "recipient_id" not in tweet
    await api.wait_ids(f"/v1/users/{author['id']}/tweets", [tweet["id"]])
