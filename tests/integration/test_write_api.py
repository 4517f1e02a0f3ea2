"""The write side's answers: refusals that write nothing, idempotency, batches."""

from __future__ import annotations

import uuid

from tests.support import Api, eventually, unique_handle


async def test_handles_are_unique_regardless_of_case(api: Api) -> None:
    handle = unique_handle("Case")
    await api.user(handle)
    err = await api.call("POST", "/v1/users", 409, json={"handle": handle.upper()})
    assert err["error"]["code"] == "handle_taken"


async def test_bad_input_gets_a_stable_code(api: Api) -> None:
    user = await api.user()
    cases = [
        ("POST", "/v1/users", {"handle": "has space"}, 400, "invalid_handle"),
        ("POST", "/v1/tweets", {"author_id": user["id"], "text": ""}, 400, "text_empty"),
        ("POST", "/v1/tweets", {"author_id": "abc", "text": "x"}, 400, "invalid_id"),
        ("POST", "/v1/tweets", {"author_id": "123", "text": "x"}, 404, "user_not_found"),
        ("POST", "/v1/tweets", {"text": "x"}, 400, "missing_field"),
        ("PUT", f"/v1/users/{user['id']}/following/{user['id']}", None, 400, "cannot_follow_self"),
        ("PUT", f"/v1/users/{user['id']}/following/42", None, 404, "user_not_found"),
        ("GET", f"/v1/users/{user['id']}/home_timeline?count=0", None, 400, "invalid_count"),
        ("GET", "/v1/tweets/1", None, 404, "not_found"),
        ("GET", "/v1/users/1", None, 404, "user_not_found"),
    ]
    for method, path, body, status, code in cases:
        err = await api.call(method, path, status, json=body)
        assert err["error"]["code"] == code, (path, err)
    resp = await api.client.post(
        "/v1/tweets", data=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_encoding"
    timeline = await api.call("GET", f"/v1/users/{user['id']}/tweets", 200)
    assert timeline["tweets"] == []


async def test_idempotency_key_returns_the_first_answer_and_appends_once(api: Api) -> None:
    author = await api.user()
    key = str(uuid.uuid4())
    body = {"author_id": author["id"], "text": "only once"}
    first = await api.call("POST", "/v1/tweets", 202, json=body, headers={"Idempotency-Key": key})
    again = await api.call("POST", "/v1/tweets", 202, json=body, headers={"Idempotency-Key": key})
    assert again == first
    await eventually(
        lambda: api.call("GET", f"/v1/users/{author['id']}/tweets", 200),
        lambda page: [t["id"] for t in page["tweets"]] == [first["id"]],
    )


async def test_batch_answers_each_tweet_in_order(api: Api) -> None:
    author = await api.user()
    tweets = [{"author_id": author["id"], "text": f"batch {i}"} for i in range(5)]
    tweets.insert(2, {"author_id": author["id"], "text": "x" * 141})
    result = await api.call("POST", "/v1/tweets/batch", 202, json={"tweets": tweets})
    results = result["results"]
    assert len(results) == 6
    assert results[2]["error"]["code"] == "text_too_long"
    ok = [r["id"] for r in results if "id" in r]
    assert [r["text"] for r in results if "id" in r] == [f"batch {i}" for i in range(5)]
    await eventually(
        lambda: api.call("GET", f"/v1/users/{author['id']}/tweets", 200),
        lambda page: sorted(t["id"] for t in page["tweets"]) == sorted(ok),
    )


async def test_batch_mixing_replies_mentions_and_refusals_keeps_the_order(api: Api) -> None:
    author, other = await api.user(), await api.user()
    first = await api.call(
        "POST", "/v1/tweets", 202, json={"author_id": author["id"], "text": "hi"}
    )
    await eventually(
        lambda: api.call("GET", f"/v1/tweets/{first['id']}", 200, raise_for=False),
        lambda answer: answer.get("id") == first["id"],
    )
    tweets: list[object] = [
        {"author_id": other["id"], "text": "a reply", "in_reply_to_id": first["id"]},
        {"author_id": "123", "text": "unknown author"},
        "not an object",
        {"author_id": author["id"], "text": f"hello @{other['handle']}"},
        {"author_id": other["id"], "text": "reply to nothing", "in_reply_to_id": "77"},
        {"author_id": author["id"], "text": "plain"},
    ]
    results = (await api.call("POST", "/v1/tweets/batch", 202, json={"tweets": tweets}))["results"]
    assert results[0]["in_reply_to_id"] == first["id"]
    assert results[1]["error"]["code"] == "user_not_found"
    assert results[2]["error"]["code"] == "invalid_body"
    assert results[3]["entities"]["mentions"] == [{"id": other["id"], "handle": other["handle"]}]
    assert results[4]["error"]["code"] == "in_reply_to_not_found"
    assert results[5]["text"] == "plain"


async def test_msgpack_in_and_out(api: Api) -> None:
    import msgpack

    handle = unique_handle()
    resp = await api.client.post(
        "/v1/users",
        data=msgpack.packb({"handle": handle}),
        headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
    )
    assert resp.status == 201
    assert resp.content_type == "application/msgpack"
    assert msgpack.unpackb(await resp.read())["handle"] == handle
