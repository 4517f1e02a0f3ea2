"""`GET /v1/search/tweets` end to end: the search projection of the log, on both backends."""

from __future__ import annotations

import io
import uuid
from typing import Any

from tests.integration.test_features import visible
from tests.support import Api, eventually, settled
from timeline.rebuild import rebuild

PATH = "/v1/search/tweets"
KAZAKH = "Twitter — қысқа мәтіндік жазбалар жазуға арналған веб-сайт"
GEORGIAN = "ეს სისტემა საშუალებას აძლევს მომხმარებელს შეინარჩუნოს საკუთარი მიკრობლოგი"


def unique(base: str) -> str:
    return f"{base}{uuid.uuid4().hex[:8]}"


async def found(api: Api, q: str, **params: Any) -> list[str]:
    page = await api.get(PATH, q=q, count=200, **params)
    return [t["id"] for t in page["tweets"]]


async def wait_found(api: Api, q: str, tweets: list[dict[str, Any]]) -> list[str]:
    """Wait until q finds exactly these tweets, newest first."""
    want = sorted((t["id"] for t in tweets), key=int, reverse=True)
    return await eventually(lambda: found(api, q), lambda ids: ids == want)


async def test_kazakh_and_georgian_words_are_found_in_any_case(api: Api) -> None:
    author, mark = await api.user(), unique("белгі")
    kz = await api.tweet(author, f"Сәлем! {KAZAKH} {mark}")
    ka = await api.tweet(author, f"{GEORGIAN} {mark}")
    await wait_found(api, mark, [kz, ka])
    assert await found(api, f"сәлем {mark}") == [kz["id"]]
    assert await found(api, f"СӘЛЕМ ЖАЗБАЛАР {mark.upper()}") == [kz["id"]]
    assert await found(api, f"მიკრობლოგი {mark}") == [ka["id"]]
    assert await found(api, f"{'მომხმარებელს'.upper()} {mark}") == [ka["id"]]
    page = await api.get(PATH, q=f"сәлем {mark}")
    assert page["tweets"][0]["text"] == f"Сәлем! {KAZAKH} {mark}"  # the tweet as posted


async def test_every_word_must_match_and_pages_go_newest_first(api: Api) -> None:
    author, common, other = await api.user(), unique("жиі"), unique("ბევრი")
    tweets = [
        await api.tweet(author, f"{common} {other if i % 2 else 'жалғыз'} {i}") for i in range(7)
    ]
    await wait_found(api, common, tweets)
    await wait_found(api, f"{other} {common}", tweets[1::2])
    assert await found(api, f"{common} {other} 3") == [tweets[3]["id"]]
    assert await found(api, f"{common} {unique('жоқ')}") == []
    newest = [t["id"] for t in reversed(tweets)]
    seen: list[str] = []
    params: dict[str, Any] = {"count": 3}
    while True:
        page = await api.get(PATH, q=common, **params)
        seen += [t["id"] for t in page["tweets"]]
        if "next_max_id" not in page:
            break
        params["max_id"] = page["next_max_id"]
    assert seen == newest
    assert await found(api, common, since_id=newest[2]) == newest[:2]


async def test_hashtag_and_handle_terms_match_the_tweets_entities(api: Api) -> None:
    author, named = await api.user(), await api.user()
    tag = unique("Твиттер")
    tagged = await api.tweet(author, f"#{tag} сәлем")
    worded = await api.tweet(author, f"{tag.lower()} сәлем")
    mentioning = await api.tweet(author, f"@{named['handle']} {tag} сәлем")
    await wait_found(api, tag, [tagged, worded, mentioning])
    assert await found(api, f"#{tag.upper()}") == [tagged["id"]]
    assert await found(api, f"@{named['handle'].upper()} сәлем") == [mentioning["id"]]
    assert await found(api, f"@{named['handle']} #{tag}") == []
    assert await found(api, f"@nobody{uuid.uuid4().hex[:6]} {tag}") == []


async def test_a_deleted_tweet_is_not_found(api: Api) -> None:
    author, word = await api.user(), unique("өшеді")
    kept = await api.tweet(author, f"{word} қалады")
    doomed = await api.tweet(author, f"{word} кетеді")
    await wait_found(api, word, [kept, doomed])
    await visible(api, doomed)  # ingest finds the tweet to delete in the tweet store
    await api.call("DELETE", f"/v1/tweets/{doomed['id']}", 202)
    await wait_found(api, word, [kept])
    assert await found(api, f"{word} кетеді") == []


async def test_a_direct_message_is_never_found(api: Api, engine) -> None:
    alice, bob = await api.user(), await api.user()
    await api.follow(bob, alice)
    await eventually(
        lambda: api.ids(f"/v1/users/{alice['id']}/followers", "users"), lambda ids: bob["id"] in ids
    )
    secret, public = unique("құпия"), unique("ашық")
    await api.call(
        "POST",
        "/v1/direct_messages",
        202,
        json={"sender_id": alice["id"], "recipient_id": bob["id"], "text": f"{secret} #{secret}"},
    )
    await api.call(
        "POST",
        "/v1/tweets",
        202,
        json={"author_id": alice["id"], "text": f"d {bob['handle']} {secret}"},
    )
    tweet = await api.tweet(alice, f"{public} {secret}x")
    await wait_found(api, public, [tweet])
    await settled(engine)
    assert await found(api, secret) == []
    assert await found(api, f"#{secret}") == []


async def test_bad_queries_are_refused_with_stable_codes(api: Api) -> None:
    cases = [
        ({}, "invalid_query"),
        ({"q": ""}, "invalid_query"),
        ({"q": "   "}, "invalid_query"),
        ({"q": "!!! ... ?"}, "invalid_query"),
        ({"q": "ж" * 201}, "invalid_query"),
        ({"q": " ".join(f"w{i}" for i in range(9))}, "too_many_terms"),
        ({"q": "сәлем", "count": "0"}, "invalid_count"),
        ({"q": "сәлем", "max_id": "x"}, "invalid_id"),
    ]
    for params, code in cases:
        err = await api.call("GET", PATH, 400, params=params)
        assert err["error"]["code"] == code, (params, err)
    assert (await api.get(PATH, q=" ".join(["w"] * 20)))["tweets"] == []  # one distinct term


async def test_a_rebuilt_search_projection_finds_the_same(api: Api, engine) -> None:
    author, word = await api.user(), unique("қайта")
    tweets = [await api.tweet(author, f"{word} #{word} {i}") for i in range(4)]
    await visible(api, tweets[0])
    await api.call("DELETE", f"/v1/tweets/{tweets[0]['id']}", 202)
    await wait_found(api, word, tweets[1:])
    await settled(engine)
    out = io.StringIO()
    replayed = await rebuild(engine.settings, "search", out)
    assert replayed > 0 and "rebuilt search" in out.getvalue()
    assert await found(api, word) == [t["id"] for t in reversed(tweets[1:])]
    assert await found(api, f"#{word} 2") == [tweets[2]["id"]]
