"""A client can act on what it just wrote: follow-ups right after a 2xx, and reads that
present the write's consistency token."""

from __future__ import annotations

from typing import Any

from engine.consistency import HEADER, parse_token
from engine.errors import LogUnavailable
from engine.events import Event, ListCreated
from engine.ports import LogPosition
from tests.integration.conftest import api_of
from tests.support import Api, eventually, table_rows
from timeline.app import Engine

TRIES = 30
Json = dict[str, Any]


async def write(api: Api, method: str, path: str, expect: int, **kw: Any) -> tuple[Json, str]:
    """A write's answer and its consistency token."""
    resp = await api.client.request(method, path, **kw)
    body = await resp.json()
    assert resp.status == expect, (method, path, resp.status, body)
    token = resp.headers.get(HEADER)
    assert token, (method, path, dict(resp.headers))
    return body, token


async def tweet(api: Api, author: Json, text: str, **fields: Any) -> tuple[Json, str]:
    return await write(
        api, "POST", "/v1/tweets", 202, json={"author_id": author["id"], "text": text, **fields}
    )


async def test_a_reply_right_after_its_tweet_is_accepted(api: Api) -> None:
    author, replier = await api.user(), await api.user()
    for i in range(TRIES):
        original, _ = await tweet(api, author, f"asking {i}")
        reply, _ = await tweet(api, replier, f"answer {i}", in_reply_to_id=original["id"])
        assert reply["in_reply_to_id"] == original["id"]


async def test_a_delete_right_after_its_tweet_is_accepted(api: Api) -> None:
    author = await api.user()
    for i in range(TRIES):
        posted, _ = await tweet(api, author, f"regret {i}")
        gone = await api.call("DELETE", f"/v1/tweets/{posted['id']}", 202)
        assert gone == {"id": posted["id"], "deleted": True}


async def test_a_message_right_after_the_follow_is_accepted(api: Api) -> None:
    sender = await api.user()
    for i in range(TRIES):
        recipient = await api.user()
        await api.follow(recipient, sender)
        body = {"sender_id": sender["id"], "recipient_id": recipient["id"], "text": f"hi {i}"}
        await api.call("POST", "/v1/direct_messages", 202, json=body)
    stranger = {"sender_id": recipient["id"], "recipient_id": sender["id"], "text": "hi"}
    refused = await api.call("POST", "/v1/direct_messages", 403, json=stranger)
    assert refused["error"]["code"] == "not_followed"


async def test_a_member_right_after_the_list_is_accepted(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    for i in range(TRIES):
        lst, _ = await write(
            api, "POST", "/v1/lists", 201, json={"owner_id": owner["id"], "name": f"l{i}"}
        )
        await api.call("PUT", f"/v1/lists/{lst['id']}/members/{member['id']}", 200)


async def test_a_read_with_the_token_sees_the_write(api: Api) -> None:
    author, follower = await api.user(), await api.user()
    _, followed = await write(
        api, "PUT", f"/v1/users/{follower['id']}/following/{author['id']}", 200
    )
    assert list(parse_token(followed)) and all(t == "graph" for t, _ in parse_token(followed))
    for i in range(TRIES // 3):
        posted, token = await tweet(api, author, f"see me {i}")
        seen = await api.call("GET", f"/v1/tweets/{posted['id']}", 200, headers={HEADER: token})
        assert seen["id"] == posted["id"]
        token_both = f"{followed},{token}"
        own = await api.get(f"/v1/users/{author['id']}/tweets", consistency_token=token)
        home = await api.call(
            "GET", f"/v1/users/{follower['id']}/home_timeline", 200, headers={HEADER: token_both}
        )
        assert own["tweets"][0]["id"] == posted["id"]
        assert home["tweets"][0]["id"] == posted["id"]


async def test_a_message_and_a_list_are_read_with_their_tokens(api: Api) -> None:
    sender, recipient = await api.user(), await api.user()
    await api.follow(recipient, sender)
    body = {"sender_id": sender["id"], "recipient_id": recipient["id"], "text": "сәлем"}
    dm, token = await write(api, "POST", "/v1/direct_messages", 202, json=body)
    inbox = await api.call(
        "GET", f"/v1/users/{recipient['id']}/direct_messages", 200, headers={HEADER: token}
    )
    assert inbox["messages"][0]["id"] == dm["id"]
    lst, token = await write(
        api, "POST", "/v1/lists", 201, json={"owner_id": sender["id"], "name": "ქართველები"}
    )
    info = await api.call("GET", f"/v1/lists/{lst['id']}", 200, headers={HEADER: token})
    assert info["name"] == "ქართველები"


async def test_a_bad_token_is_refused_and_an_unreached_one_answers_503(api: Api) -> None:
    user = await api.user()
    for bad in ("nonsense", "tweets:0", "tweets:x:1", "other:0:1", "tweets:0:-1", "tweets:0:²"):
        err = await api.call(
            "GET", f"/v1/users/{user['id']}/tweets", 400, params={"consistency_token": bad}
        )
        assert err["error"]["code"] == "invalid_consistency_token", bad
    resp = await api.client.get(
        f"/v1/users/{user['id']}/tweets", headers={HEADER: "tweets:0:999999999"}
    )
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "projection_lagging"


class Refusing:
    """The log refuses every append (as Kafka down would); the refused events are kept."""

    def __init__(self, engine: Engine) -> None:
        assert engine.backend is not None
        self.log = engine.backend.log
        self.refused: list[Event] = []
        self.log.append = self._refuse  # type: ignore[method-assign]

    async def _refuse(self, event: Event) -> LogPosition:
        self.refused.append(event)
        raise LogUnavailable("the log is down (test)")

    def restore(self) -> None:
        """Appends work again."""
        vars(self.log).pop("append", None)


async def test_a_list_whose_append_failed_is_in_no_view(api: Api, engine: Engine) -> None:
    owner, member = await api.user(), await api.user()
    refusing = Refusing(engine)
    try:
        err = await api.call("POST", "/v1/lists", 503, json={"owner_id": owner["id"], "name": "x"})
    finally:
        refusing.restore()
    assert err["error"]["code"] == "log_unavailable"
    [created] = refusing.refused
    assert isinstance(created, ListCreated)
    # A later list of the same owner lies after it in the same partition: once the views have
    # applied that one, they would hold the refused one too, had anything written it.
    _, token = await write(
        api, "POST", "/v1/lists", 201, json={"owner_id": owner["id"], "name": "later"}
    )
    refused = await api.call("PUT", f"/v1/lists/{created.list_id}/members/{member['id']}", 404)
    assert refused["error"]["code"] == "list_not_found"
    missing = await api.call("GET", f"/v1/lists/{created.list_id}", 404, headers={HEADER: token})
    assert missing["error"]["code"] == "list_not_found"
    for table in ("lists", "check_lists"):
        sql = f"SELECT list_id FROM {table} WHERE list_id = ?"
        assert await table_rows(engine, sql, (created.list_id,)) == []


async def test_a_negative_check_past_the_bound_answers_503(api: Api, engine: Engine) -> None:
    author = await api.user()
    group = engine.settings.consumer_group_prefix + "checks"
    [worker] = [w for w in engine.workers if w.group == group]
    await worker.stop()
    engine.workers.remove(worker)
    try:
        posted, _ = await tweet(api, author, "the checks group is stopped")
        resp = await api.client.delete(f"/v1/tweets/{posted['id']}")
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"]["code"] == "projection_lagging"
    finally:
        await engine._start_consumer("checks")
    await api.call("DELETE", f"/v1/tweets/{posted['id']}", 202)


async def test_follow_ups_reach_another_ingest_process(api: Api, engine: Engine) -> None:
    other = Engine(engine.settings, ("ingest",))
    await other.start()
    try:
        async with api_of(other) as second:
            author, replier = await api.user(), await api.user()

            async def reply_elsewhere() -> int:
                original, _ = await tweet(api, author, "warming up")
                body = {"author_id": replier["id"], "text": "ok", "in_reply_to_id": original["id"]}
                return (await second.client.post("/v1/tweets", json=body)).status

            # Its checks member joining the group moves partitions (on Kafka): let that settle.
            await eventually(reply_elsewhere, lambda status: status == 202, timeout_s=30)
            for i in range(TRIES):
                original, _ = await tweet(api, author, f"asking {i}")
                await tweet(second, replier, f"answer {i}", in_reply_to_id=original["id"])
                lst, _ = await write(
                    api, "POST", "/v1/lists", 201, json={"owner_id": author["id"], "name": "x"}
                )
                await second.call("PUT", f"/v1/lists/{lst['id']}/members/{replier['id']}", 200)
                await second.call("DELETE", f"/v1/tweets/{original['id']}", 202)
    finally:
        await other.stop()
