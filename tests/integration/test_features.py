"""Every feature of API.md as a projection of the log, with its refusals."""

from __future__ import annotations

import uuid

from tests.support import Api, eventually


async def visible(api: Api, tweet: dict) -> None:
    """Wait until the tweet store has the tweet (fan-out wrote it)."""
    await eventually(
        lambda: api.call("GET", f"/v1/tweets/{tweet['id']}", 200, raise_for=False),
        lambda t: t.get("id") == tweet["id"],
    )


def tag(base: str) -> str:
    return f"{base}{uuid.uuid4().hex[:6]}"


async def test_hashtags_in_any_script_compare_case_insensitively(api: Api) -> None:
    author = await api.user()
    kz, ka, en = tag("Твиттер"), tag("ტვიტერი"), tag("NBAFinals")
    one = await api.tweet(author, f"Сәлем #{kz} #{en}")
    two = await api.tweet(author, f"#{kz.upper()} and #{ka}")
    three = await api.tweet(author, f"#{en.lower()} game")
    assert one["entities"]["hashtags"] == [kz, en]
    assert two["text"] == f"#{kz.upper()} and #{ka}"  # the tweet keeps its original text
    await api.wait_ids(f"/v1/hashtags/{kz.lower()}/tweets", [one["id"], two["id"]])
    await api.wait_ids(f"/v1/hashtags/{ka}/tweets", [two["id"]])
    await api.wait_ids(f"/v1/hashtags/{en.upper()}/tweets", [one["id"], three["id"]])
    page = await api.get(f"/v1/hashtags/{kz}/tweets", count=1)
    assert [t["id"] for t in page["tweets"]] == [two["id"]] and "next_max_id" in page


async def test_mentions_resolve_known_handles_and_replies_keep_their_target(api: Api) -> None:
    author, named = await api.user(), await api.user()
    tweet = await api.tweet(author, f"hi @{named['handle']} and @nobody_{uuid.uuid4().hex[:6]}")
    assert tweet["entities"]["mentions"] == [{"id": named["id"], "handle": named["handle"]}]
    await api.wait_ids(f"/v1/users/{named['id']}/mentions", [tweet["id"]])
    await visible(api, tweet)  # ingest checks a reply's target in the tweet store
    reply = await api.call(
        "POST",
        "/v1/tweets",
        202,
        json={
            "author_id": named["id"],
            "text": f"@{author['handle']} thanks",
            "in_reply_to_id": tweet["id"],
        },
    )
    assert reply["in_reply_to_id"] == tweet["id"]
    shown = await eventually(
        lambda: api.call("GET", f"/v1/tweets/{reply['id']}", 200, raise_for=False),
        lambda t: t.get("id") == reply["id"],
    )
    assert shown["in_reply_to_id"] == tweet["id"]
    err = await api.call(
        "POST",
        "/v1/tweets",
        404,
        json={"author_id": named["id"], "text": "to nothing", "in_reply_to_id": "12345"},
    )
    assert err["error"]["code"] == "in_reply_to_not_found"


async def _followed(api: Api, follower: dict, followee: dict) -> None:
    await api.follow(follower, followee)
    await eventually(
        lambda: api.ids(f"/v1/users/{followee['id']}/followers", "users"),
        lambda ids: follower["id"] in ids,
    )


async def test_direct_messages_only_to_followers_and_only_in_their_views(api: Api) -> None:
    alice, bob, eve = [await api.user() for _ in range(3)]
    secret = tag("secret")
    err = await api.call(
        "POST",
        "/v1/direct_messages",
        403,
        json={"sender_id": alice["id"], "recipient_id": bob["id"], "text": "hi"},
    )
    assert err["error"]["code"] == "not_followed"
    await _followed(api, bob, alice)
    await _followed(api, eve, alice)
    dm = await api.call(
        "POST",
        "/v1/direct_messages",
        202,
        json={
            "sender_id": alice["id"],
            "recipient_id": bob["id"],
            "text": f"#{secret} @{eve['handle']}",
        },
    )
    by_d = await api.call(
        "POST",
        "/v1/tweets",
        202,
        json={"author_id": alice["id"], "text": f"d {bob['handle']} second #{secret}"},
    )
    assert by_d["recipient_id"] == bob["id"] and by_d["text"] == f"second #{secret}"
    both = [dm["id"], by_d["id"]]
    await api.wait_ids(f"/v1/users/{bob['id']}/direct_messages", both, "messages")
    await api.wait_ids(f"/v1/users/{alice['id']}/direct_messages", both, "messages")
    assert (
        await api.ids(f"/v1/users/{alice['id']}/direct_messages?with={eve['id']}", "messages") == []
    )
    assert await api.ids(f"/v1/users/{eve['id']}/direct_messages", "messages") == []
    for user in (alice, bob, eve):
        assert await api.home_ids(user) == []
        assert await api.ids(f"/v1/users/{user['id']}/mentions") == []
    assert await api.ids(f"/v1/hashtags/{secret}/tweets") == []
    trends = await api.get("/v1/trends", window="5m", count=50)
    assert secret.lower() not in {t["hashtag"] for t in trends["trends"]}
    await api.call("GET", f"/v1/tweets/{dm['id']}", 404)


async def test_lists_merge_their_members_timelines(api: Api) -> None:
    owner, a, b, c = [await api.user() for _ in range(4)]
    lst = await api.call(
        "POST", "/v1/lists", 201, json={"owner_id": owner["id"], "name": "Қазақша"}
    )
    for member in (a, b):
        await api.call("PUT", f"/v1/lists/{lst['id']}/members/{member['id']}", 200)
    ta, tb, tc = [await api.tweet(u, f"from {u['handle']}") for u in (a, b, c)]
    await api.wait_ids(f"/v1/lists/{lst['id']}/tweets", [ta["id"], tb["id"]])
    info = await api.get(f"/v1/lists/{lst['id']}")
    assert info["name"] == "Қазақша" and sorted(info["member_ids"]) == sorted([a["id"], b["id"]])
    await api.call("DELETE", f"/v1/lists/{lst['id']}/members/{a['id']}", 200)
    await api.wait_ids(f"/v1/lists/{lst['id']}/tweets", [tb["id"]])
    err = await api.call("PUT", f"/v1/lists/1/members/{a['id']}", 404)
    assert err["error"]["code"] == "list_not_found"
    assert tc["id"] not in await api.ids(f"/v1/lists/{lst['id']}/tweets")


async def test_a_deleted_tweet_leaves_every_view(api: Api) -> None:
    author, follower, named, owner = [await api.user() for _ in range(4)]
    await api.follow(follower, author)
    lst = await api.call("POST", "/v1/lists", 201, json={"owner_id": owner["id"], "name": "l"})
    await api.call("PUT", f"/v1/lists/{lst['id']}/members/{author['id']}", 200)
    gone_tag = tag("gone")
    keep = await api.tweet(author, f"stays #{gone_tag}")
    doomed = await api.tweet(author, f"goes #{gone_tag} @{named['handle']}")
    views = [
        f"/v1/users/{follower['id']}/home_timeline",
        f"/v1/users/{author['id']}/home_timeline",
        f"/v1/users/{author['id']}/tweets",
        f"/v1/hashtags/{gone_tag}/tweets",
        f"/v1/lists/{lst['id']}/tweets",
    ]
    for view in views:
        await api.wait_ids(view, [keep["id"], doomed["id"]])
    await api.wait_ids(f"/v1/users/{named['id']}/mentions", [doomed["id"]])
    await eventually(lambda: _trend(api, gone_tag), lambda n: n == 2)
    await api.call("DELETE", f"/v1/tweets/{doomed['id']}", 202)
    for view in views:
        await api.wait_ids(view, [keep["id"]])
    await api.wait_ids(f"/v1/users/{named['id']}/mentions", [])
    await eventually(lambda: _trend(api, gone_tag), lambda n: n == 1)
    err = await api.call("GET", f"/v1/tweets/{doomed['id']}", 404)
    assert err["error"]["code"] == "not_found"
    await api.call("DELETE", "/v1/tweets/42", 404)


async def _trend(api: Api, name: str) -> int:
    trends = await api.get("/v1/trends", window="5m", count=50)
    return next((t["count"] for t in trends["trends"] if t["hashtag"] == name.lower()), 0)


async def test_trends_count_hashtags_over_a_window(api: Api) -> None:
    author = await api.user()
    hot, warm = tag("hot"), tag("warm")
    for text in (f"#{hot}", f"#{hot} #{warm}", f"#{hot.upper()}"):
        await api.tweet(author, text)
    await eventually(lambda: _trend(api, hot), lambda n: n == 3)
    assert await _trend(api, warm) == 1
    err = await api.call("GET", "/v1/trends", 400, params={"window": "2d"})
    assert err["error"]["code"] == "invalid_window"


async def test_sms_commands_from_a_registered_phone(api: Api) -> None:
    me, friend = await api.user(), await api.user()
    phone = f"+7701{uuid.uuid4().int % 10**7:07d}"
    await api.call("PUT", f"/v1/users/{me['id']}/phone", 200, json={"phone": phone})
    taken = await api.call("PUT", f"/v1/users/{friend['id']}/phone", 409, json={"phone": phone})
    assert taken["error"]["code"] == "phone_taken"
    bad = await api.call("PUT", f"/v1/users/{friend['id']}/phone", 400, json={"phone": "8701"})
    assert bad["error"]["code"] == "invalid_phone"

    async def sms(text: str, sender: str = phone) -> dict:
        return await api.call(
            "POST", "/v1/sms/inbound", 200, json={"from": sender, "to": "40404", "text": text}
        )

    unknown = await sms("hello", "+10000000000")
    assert (unknown["status"], unknown["code"]) == ("refused", "unknown_phone")
    assert (await sms("Сәлем from my phone"))["reply"] == "Tweet posted."
    await eventually(
        lambda: api.get(f"/v1/users/{me['id']}/tweets"),
        lambda p: [t["text"] for t in p["tweets"]] == ["Сәлем from my phone"],
    )
    assert (await sms(f"follow {friend['handle']}"))["status"] == "ok"
    await eventually(
        lambda: api.ids(f"/v1/users/{me['id']}/following", "users"),
        lambda ids: ids == [friend["id"]],
    )
    refused = await sms(f"d {friend['handle']} psst")
    assert (refused["status"], refused["code"]) == ("refused", "not_followed")
    original = await api.tweet(friend, "a tweet to answer")
    await eventually(
        lambda: api.call("GET", f"/v1/tweets/{original['id']}", 200, raise_for=False),
        lambda t: t.get("id") == original["id"],
    )
    assert (await sms(f"@{friend['handle']} nice one"))["status"] == "ok"
    mine = await eventually(
        lambda: api.get(f"/v1/users/{me['id']}/tweets"), lambda p: len(p["tweets"]) == 2
    )
    assert mine["tweets"][0]["in_reply_to_id"] == original["id"]
    too_long = await sms("x" * 141)
    assert (too_long["status"], too_long["code"]) == ("refused", "text_too_long")
    assert (await sms(f"leave {friend['handle']}"))["reply"] == f"You left @{friend['handle']}."
    await eventually(
        lambda: api.ids(f"/v1/users/{me['id']}/following", "users"), lambda ids: ids == []
    )
