"""The first complete path: HTTP -> Kafka -> fan-out -> Cassandra -> HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from tests.integration.conftest import CELEBRITY_THRESHOLD, HOME_CAP, api_of, running_engine
from tests.support import Api, eventually

GEORGIAN = "ტვიტერი"


async def test_every_home_timeline_holds_what_its_owner_follows(api: Api) -> None:
    alice, bob, carol, dave = [await api.user() for _ in range(4)]
    # alice follows bob and carol; bob follows carol; carol follows nobody; dave follows alice
    for follower, followee in [(alice, bob), (alice, carol), (bob, carol), (dave, alice)]:
        await api.follow(follower, followee)
    posted: dict[str, list[str]] = {}
    for author in (alice, bob, carol, bob, carol, alice):
        tweet = await api.tweet(author, f"hello from {author['handle']} #Твиттер")
        posted.setdefault(author["id"], []).append(tweet["id"])

    def of(*users: dict) -> list[str]:
        return [i for u in users for i in posted.get(u["id"], [])]

    await api.wait_home(alice, of(alice, bob, carol))
    await api.wait_home(bob, of(bob, carol))
    await api.wait_home(carol, of(carol))
    await api.wait_home(dave, of(alice))
    page = await api.home(alice)
    assert "next_max_id" not in page
    tweet = page["tweets"][0]
    assert tweet["entities"]["hashtags"] == ["Твиттер"]
    assert tweet["created_at"].endswith("Z") and tweet["in_reply_to_id"] is None


async def test_pages_with_max_id_and_since_id(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    await api.follow(reader, author)
    ids = [(await api.tweet(author, f"tweet number {i}"))["id"] for i in range(25)]
    newest_first = sorted(ids, key=int, reverse=True)
    await api.wait_home(reader, ids)

    seen: list[str] = []
    params: dict[str, object] = {"count": 10}
    while True:
        page = await api.home(reader, **params)
        seen += [t["id"] for t in page["tweets"]]
        if "next_max_id" not in page:
            break
        params["max_id"] = page["next_max_id"]
    assert seen == newest_first
    newer = await api.home(reader, since_id=newest_first[5], count=200)
    assert [t["id"] for t in newer["tweets"]] == newest_first[:5]


async def test_high_follower_authors_are_merged_at_read_time(api: Api, engine) -> None:
    star = await api.user()
    fans = [await api.user() for _ in range(CELEBRITY_THRESHOLD + 1)]
    ordinary = await api.user()
    for fan in fans:
        await api.follow(fan, star)
    await api.follow(fans[0], ordinary)
    await eventually(
        lambda: api.call("GET", f"/v1/users/{star['id']}", 200),
        lambda u: u["followers_count"] == CELEBRITY_THRESHOLD + 1,
    )
    first = await api.tweet(ordinary, "an ordinary tweet")
    star_tweet = await api.tweet(star, "a tweet to many")
    last = await api.tweet(ordinary, "another ordinary tweet")
    want = [first["id"], star_tweet["id"], last["id"]]
    await api.wait_home(fans[0], want)
    await api.wait_home(fans[1], [star_tweet["id"]])
    await api.wait_home(star, [star_tweet["id"]])
    # the star's tweet was not written into any home timeline: readers merged it
    rows = await engine.backend.timelines.home_page(int(fans[1]["id"]), _query())
    assert rows == []
    assert int(star["id"]) in await engine.backend.timelines.celebrities()


async def test_georgian_140_characters_accepted_141_refused(api: Api) -> None:
    author = await api.user()
    text = (GEORGIAN * 20)[:140]
    assert len(text.encode()) == 420
    tweet = await api.tweet(author, text)
    assert tweet["text"] == text
    err = await api.call(
        "POST", "/v1/tweets", 400, json={"author_id": author["id"], "text": text + "ი"}
    )
    assert err["error"]["code"] == "text_too_long"
    await asyncio.sleep(0.5)
    timeline = await api.call("GET", f"/v1/users/{author['id']}/tweets", 200)
    assert [t["id"] for t in timeline["tweets"]] == [tweet["id"]]


async def test_home_timeline_is_capped(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    await api.follow(reader, author)
    ids = [(await api.tweet(author, f"flood {i}"))["id"] for i in range(HOME_CAP + 10)]
    newest = sorted(ids, key=int, reverse=True)[:HOME_CAP]
    await api.wait_home(reader, newest)


async def test_a_consistency_token_reads_past_held_high_follower_tweets(
    backend_kind: str, tmp_path: Path
) -> None:
    if backend_kind != "embedded":
        pytest.skip("an engine of its own, with readers that hold: the embedded one suffices")
    held_s = 60.0
    settings = Settings.from_env(
        {},
        data_dir=str(tmp_path),
        celebrity_threshold=CELEBRITY_THRESHOLD,
        celebrity_cache_s=held_s,
        followed_celebrities_cache_s=held_s,
    )
    async with running_engine(settings) as engine, api_of(engine) as api:
        star, reader = await api.user(), await api.user()
        for fan in [reader, *[await api.user() for _ in range(CELEBRITY_THRESHOLD)]]:
            await api.follow(fan, star)
        first, first_token = await _tweet_with_token(api, star, "held from now on")
        home = await api.home(reader, consistency_token=first_token)
        assert [t["id"] for t in home["tweets"]] == [first["id"]]
        second, second_token = await _tweet_with_token(api, star, "not yet in what is held")
        await api.home(reader, consistency_token=second_token)  # applied, and held afresh
        third, third_token = await _tweet_with_token(api, star, "posted after the hold")
        await asyncio.sleep(0.5)  # the projection writes it; readers hold what they read
        assert await api.home_ids(reader) == [second["id"], first["id"]]
        home = await api.home(reader, consistency_token=third_token)
        assert [t["id"] for t in home["tweets"]] == [third["id"], second["id"], first["id"]]


async def test_a_steady_home_page_is_one_store_read(
    backend_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend_kind != "embedded":
        pytest.skip("an engine of its own, with readers that hold: the embedded one suffices")
    settings = Settings.from_env(
        {},
        data_dir=str(tmp_path),
        celebrity_threshold=CELEBRITY_THRESHOLD,
        celebrity_cache_s=60.0,
        followed_celebrities_cache_s=60.0,
    )
    async with running_engine(settings) as engine, api_of(engine) as api:
        star, friend, reader = await api.user(), await api.user(), await api.user()
        for fan in [reader, *[await api.user() for _ in range(CELEBRITY_THRESHOLD)]]:
            await api.follow(fan, star)
        await api.follow(reader, friend)
        posted = [await _tweet_with_token(api, a, "hello") for a in (friend, star, friend)]
        token = ",".join(t for _, t in posted)
        want = [p["id"] for p, _ in posted[::-1]]
        assert [
            t["id"] for t in (await api.home(reader, consistency_token=token))["tweets"]
        ] == want
        reads: list[str] = []
        store = engine.backend.store_db
        read = store.read

        async def counted(op: str, job: Any) -> Any:
            reads.append(op)
            return await read(op, job)

        monkeypatch.setattr(store, "read", counted)
        assert await api.home_ids(reader, count=20) == want
        assert reads == ["page"]  # the rows; the star, whom the reader follows, held


async def _tweet_with_token(api: Api, author: dict, text: str) -> tuple[dict, str]:
    response = await api.client.post("/v1/tweets", json={"author_id": author["id"], "text": text})
    assert response.status == 202
    return await response.json(), response.headers["Consistency-Token"]


def _query():
    from engine.records import PageQuery

    return PageQuery(count=50)
