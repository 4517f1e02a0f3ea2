"""Idempotency-Key over HTTP, on both backends: first answers replayed, mismatches refused,
requests in progress busy, keys of dead requests free again, and a retry after a 503 that
re-appends the same events (the first record landing too) counted once in every view."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import pytest_asyncio

from engine.errors import LogUnavailable
from engine.events import (
    GRAPH_TOPIC,
    TWEETS_TOPIC,
    Event,
    TweetPosted,
    UserRegistered,
    decode,
    decode_all,
)
from engine.ports import LogRecord, LogTail
from tests.support import Api, eventually, settled
from timeline.app import Engine

KEY = "Idempotency-Key"


def key() -> dict[str, str]:
    return {KEY: str(uuid.uuid4())}


def tag(base: str) -> str:
    return f"{base}{uuid.uuid4().hex[:6]}"


@pytest_asyncio.fixture
async def tweets_tail(engine: Engine) -> AsyncIterator[LogTail]:
    """A reader of the tweets topic from its current end."""
    assert engine.backend is not None
    async with engine.backend.tail([TWEETS_TOPIC]) as tail:
        await tail.poll(max_records=1, timeout_ms=10)  # positioned at the end before any post
        yield tail


async def posts_of(
    tail: LogTail, tweet_ids: str | set[str], want: int
) -> list[tuple[LogRecord, TweetPosted]]:
    """The posts of these tweets the tail sees, each with its record (a record may carry a
    pack of them), once at least `want` of them arrived."""
    wanted = {tweet_ids} if isinstance(tweet_ids, str) else tweet_ids
    seen: list[tuple[LogRecord, TweetPosted]] = []

    async def more() -> list[tuple[LogRecord, TweetPosted]]:
        for record in await tail.poll(max_records=500, timeout_ms=100):
            for event in decode_all(record.value):
                if isinstance(event, TweetPosted) and str(event.tweet.id) in wanted:
                    seen.append((record, event))
        return seen

    return await eventually(more, lambda found: len(found) >= want)


async def post(api: Api, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await api.client.post("/v1/tweets", json=body, headers=headers)


async def test_a_retry_gets_the_first_answer_and_the_log_one_event(
    api: Api, tweets_tail: LogTail
) -> None:
    author, headers = await api.user(), key()
    body = {"author_id": author["id"], "text": "only once"}
    first = await post(api, body, headers)
    again = await post(api, body, headers)
    assert (first.status, again.status) == (202, 202)
    assert await again.json() == await first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    tweet_id = (await first.json())["id"]
    assert len(await posts_of(tweets_tail, tweet_id, 1)) == 1
    assert await tweets_tail.poll(max_records=500, timeout_ms=300) == []


async def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    author, headers = await api.user(), key()
    await api.call(
        "POST", "/v1/tweets", 202, json={"author_id": author["id"], "text": "a"}, headers=headers
    )
    err = await api.call(
        "POST", "/v1/tweets", 422, json={"author_id": author["id"], "text": "b"}, headers=headers
    )
    assert err["error"]["code"] == "idempotency_key_mismatch"


async def test_a_retry_while_the_first_is_in_progress_is_busy(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.backend is not None
    log = engine.backend.log
    real, entered, gate = log.append_many, asyncio.Event(), asyncio.Event()

    async def slow(events: Sequence[Event]) -> list[BaseException | None]:
        entered.set()
        await gate.wait()
        return await real(events)

    author, headers = await api.user(), key()
    body = {"author_id": author["id"], "text": "in progress"}
    monkeypatch.setattr(log, "append_many", slow)
    first = asyncio.create_task(post(api, body, headers))
    await asyncio.wait_for(entered.wait(), 10)
    busy = await post(api, body, headers)
    assert busy.status == 409
    assert (await busy.json())["error"]["code"] == "idempotency_busy"
    assert int(busy.headers["Retry-After"]) >= 1
    gate.set()
    done = await first
    assert done.status == 202
    replay = await api.call("POST", "/v1/tweets", 202, json=body, headers=headers)
    assert replay == await done.json()


async def test_a_request_that_failed_leaves_its_key_usable_at_once(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.backend is not None
    registry = engine.backend.registry
    author, headers = await api.user(), key()
    body = {"author_id": author["id"], "text": "after a crash of the handler"}

    async def broken(user_id: int) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(registry, "user_claim", broken)
    failed = await post(api, body, headers)
    assert failed.status == 500
    monkeypatch.undo()
    await api.call("POST", "/v1/tweets", 202, json=body, headers=headers)


async def test_a_client_gone_mid_body_leaves_the_key_usable(api: Api) -> None:
    author, headers = await api.user(), key()
    body = json.dumps({"author_id": author["id"], "text": "whole at last"}).encode()
    server = api.client.server
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /v1/tweets HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n{KEY}: {headers[KEY]}\r\n\r\n".encode()
        + body[:10]
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # let the server start on the request before the client goes
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.2)  # and see the client gone
    await api.call(
        "POST",
        "/v1/tweets",
        202,
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )


async def test_an_abandoned_lease_frees_the_key_within_the_lease(api: Api, engine: Engine) -> None:
    assert engine.backend is not None
    author, headers = await api.user(), key()
    raw = json.dumps({"author_id": author["id"], "text": "after a crash"}).encode()
    fingerprint = hashlib.sha256(b"POST /v1/tweets\n" + raw).digest()
    scope = "anonymous POST /v1/tweets"
    lease_s = 1.0
    crashed = await engine.backend.registry.claim_idempotent(
        scope, headers[KEY], fingerprint, "a process that died", lease_s
    )
    assert crashed.owner == "a process that died"
    send = {**headers, "Content-Type": "application/json"}
    busy = await api.client.post("/v1/tweets", data=raw, headers=send)
    assert busy.status == 409 and busy.headers["Retry-After"] == "1"
    await asyncio.sleep(lease_s)
    await api.call("POST", "/v1/tweets", 202, data=raw, headers=send)


def landing_but_unacknowledged(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Arms the log so its next append lands but answers 503 (no acknowledgement in time);
    the append after it goes through, as a retry's would."""
    assert engine.backend is not None
    log = engine.backend.log
    real = log.append_many

    async def lands_but_fails(events: Sequence[Event]) -> list[BaseException | None]:
        monkeypatch.undo()  # once: the retry's append goes through
        await real(events)  # the record lands, but the API never hears of it
        return [LogUnavailable("no acknowledgement in time") for _ in events]

    return lambda: monkeypatch.setattr(log, "append_many", lands_but_fails)


async def test_a_retry_after_a_503_posts_one_tweet_in_every_view(
    api: Api, engine: Engine, tweets_tail: LogTail, monkeypatch: pytest.MonkeyPatch
) -> None:
    lands_but_fails = landing_but_unacknowledged(engine, monkeypatch)
    author, fan, named = await api.user(), await api.user(), await api.user()
    await api.follow(fan, author)
    hashtag, word = tag("once"), tag("word")
    text = f"#{hashtag} {word} @{named['handle']}"
    body, headers = {"author_id": author["id"], "text": text}, key()
    lands_but_fails()
    unavailable = await post(api, body, headers)
    assert unavailable.status == 503
    retried = await post(api, body, headers)
    assert retried.status == 202 and retried.headers.get("Idempotent-Replayed") == "true"
    tweet = await retried.json()
    records = await posts_of(tweets_tail, tweet["id"], 2)
    assert len({r.offset for r, _ in records}) == 2  # the same event, twice in the log
    await settled(engine)
    views = [
        f"/v1/users/{author['id']}/tweets",
        f"/v1/users/{fan['id']}/home_timeline",
        f"/v1/hashtags/{hashtag}/tweets",
        f"/v1/users/{named['id']}/mentions",
    ]
    for view in views:
        assert await api.ids(view) == [tweet["id"]], view
    assert (await api.get("/v1/search/tweets", q=word))["tweets"] == [tweet]
    assert (await api.get(f"/v1/tweets/{tweet['id']}"))["id"] == tweet["id"]
    trends = await api.get("/v1/trends", window="5m", count=50)
    assert {t["hashtag"]: t["count"] for t in trends["trends"]}.get(hashtag) == 1
    again = await api.call("POST", "/v1/tweets", 202, json=body, headers=headers)
    assert again == tweet


async def test_a_retried_follow_counts_once_even_after_an_unfollow(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    lands_but_fails = landing_but_unacknowledged(engine, monkeypatch)
    fan, star, headers = await api.user(), await api.user(), key()
    path = f"/v1/users/{fan['id']}/following/{star['id']}"
    lands_but_fails()
    assert (await api.client.put(path, headers=headers)).status == 503
    await api.unfollow(fan, star)  # the client changed its mind before retrying
    await api.call("PUT", path, 200, headers=headers)  # the retry re-appends the follow
    await settled(engine)
    followers = await api.ids(f"/v1/users/{star['id']}/followers", key="users")
    count = (await api.get(f"/v1/users/{star['id']}"))["followers_count"]
    assert count == len(followers)


async def test_every_keyed_write_replays_its_first_answer(api: Api) -> None:
    fan, star = await api.user(), await api.user()
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/v1/users", {"handle": f"k{uuid.uuid4().hex[:10]}"}),
        ("PUT", f"/v1/users/{fan['id']}/following/{star['id']}", None),
        ("POST", "/v1/lists", {"owner_id": fan["id"], "name": "keyed"}),
        ("POST", "/v1/tweets/batch", {"tweets": [{"author_id": star["id"], "text": "b"}]}),
    ]
    for method, path, body in writes:
        headers = key()
        first = await api.client.request(method, path, json=body, headers=headers)
        again = await api.client.request(method, path, json=body, headers=headers)
        assert first.status < 300 and again.status == first.status, path
        assert await again.json() == await first.json(), path
        assert again.headers.get("Idempotent-Replayed") == "true", path


async def test_a_batch_retried_after_a_partial_503_posts_each_tweet_once(
    api: Api, engine: Engine, tweets_tail: LogTail, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.backend is not None
    log = engine.backend.log
    real = log.append_many

    async def first_lost(events: Sequence[Event]) -> list[BaseException | None]:
        monkeypatch.undo()
        outcome = await real(events)
        return [LogUnavailable("no acknowledgement in time"), *outcome[1:]]

    author, headers = await api.user(), key()
    body = {"tweets": [{"author_id": author["id"], "text": f"part {i}"} for i in range(3)]}
    monkeypatch.setattr(log, "append_many", first_lost)
    failed = await api.client.post("/v1/tweets/batch", json=body, headers=headers)
    assert failed.status == 503
    retried = await api.call("POST", "/v1/tweets/batch", 202, json=body, headers=headers)
    ids = [r["id"] for r in retried["results"]]
    records = await posts_of(tweets_tail, set(ids), 6)  # the whole batch, twice
    assert Counter(str(e.tweet.id) for _, e in records) == dict.fromkeys(ids, 2)
    await api.wait_ids(f"/v1/users/{author['id']}/tweets", ids)


async def test_a_registration_retried_after_a_503_is_one_user(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    lands_but_fails = landing_but_unacknowledged(engine, monkeypatch)
    handle, headers = f"r{uuid.uuid4().hex[:10]}", key()
    lands_but_fails()
    failed = await api.client.post("/v1/users", json={"handle": handle}, headers=headers)
    assert failed.status == 503
    user = await api.call("POST", "/v1/users", 201, json={"handle": handle}, headers=headers)
    await eventually(
        lambda: api.call("GET", f"/v1/users/by_handle/{handle}", 200, raise_for=False),
        lambda found: found.get("id") == user["id"],
    )


@pytest_asyncio.fixture
async def graph_tail(engine: Engine) -> AsyncIterator[LogTail]:
    """A reader of the graph topic from its current end."""
    assert engine.backend is not None
    async with engine.backend.tail([GRAPH_TOPIC]) as tail:
        await tail.poll(max_records=1, timeout_ms=10)
        yield tail


async def test_a_keyed_registration_is_settled_so_a_refused_rival_appends_nothing(
    api: Api, graph_tail: LogTail
) -> None:
    """A keyed registration marks its claim once its drafted event is appended: a rival
    refused with handle_taken (keyed or not), and a lookup by handle, append nothing."""
    handle, headers = f"k{uuid.uuid4().hex[:10]}", key()
    user = await api.call("POST", "/v1/users", 201, json={"handle": handle}, headers=headers)
    for rival in ({}, key()):
        err = await api.call("POST", "/v1/users", 409, json={"handle": handle}, headers=rival)
        assert err["error"]["code"] == "handle_taken"
    await api.call("GET", f"/v1/users/by_handle/{handle}", 200)
    await api.call("POST", "/v1/users", 201, json={"handle": handle}, headers=headers)
    events = []
    for _ in range(10):
        events += [decode(r.value) for r in await graph_tail.poll(max_records=500, timeout_ms=100)]
    mine = [e for e in events if isinstance(e, UserRegistered) and e.handle == handle]
    assert [e.user_id for e in mine] == [int(user["id"])]
