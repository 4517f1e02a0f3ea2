"""Lists end to end: the member cap, paged members, and list timelines kept like home ones."""

from __future__ import annotations

import contextlib
import io
import random
import time
from collections.abc import Iterator
from typing import Any

from engine.events import ListMemberAdded
from engine.ids import IdGenerator
from tests.integration.conftest import LIST_MAX
from tests.integration.test_features import visible
from tests.integration.test_rebuild import _snapshot
from tests.support import Api, eventually, settled
from timeline.rebuild import rebuild

_ids = IdGenerator(random.randrange(1024))


async def _list(api: Api, owner: dict[str, Any], name: str = "l") -> str:
    made = await api.call("POST", "/v1/lists", 201, json={"owner_id": owner["id"], "name": name})
    return str(made["id"])


async def _add(api: Api, list_id: str, member: dict[str, Any], expect: int = 200) -> Any:
    return await api.call("PUT", f"/v1/lists/{list_id}/members/{member['id']}", expect)


async def _wait_members(api: Api, list_id: str, members: list[dict[str, Any]]) -> None:
    want = sorted((m["id"] for m in members), key=int)
    await eventually(
        lambda: api.get(f"/v1/lists/{list_id}"), lambda info: info["member_ids"] == want
    )


async def _append_adds(engine: Any, list_id: str, owner: dict[str, Any], members: list) -> None:
    """Adds straight into the log, as ingest processes would append them before the
    projection they check has caught up."""
    for m in members:
        event = ListMemberAdded(
            _ids.next_id(), time.time_ns() // 1000, int(list_id), int(owner["id"]), int(m["id"])
        )
        await engine.backend.log.append(event)


@contextlib.contextmanager
def _store_calls(engine: Any) -> Iterator[list[str]]:
    """Every store query the engine makes meanwhile (it must be otherwise idle)."""
    if engine.settings.backend == "embedded":
        owner, name = engine.backend.store_db, "read"
    else:
        owner, name = engine.backend.cql, "run"
    original = getattr(owner, name)
    calls: list[str] = []

    async def counted(*args: Any, **kw: Any) -> Any:
        calls.append(str(args[0]))
        return await original(*args, **kw)

    setattr(owner, name, counted)
    try:
        yield calls
    finally:
        delattr(owner, name)


async def test_an_add_to_a_full_list_is_refused_with_list_full(api: Api) -> None:
    owner, *members = [await api.user() for _ in range(LIST_MAX + 3)]
    extra, later = members[LIST_MAX:]
    list_id = await _list(api, owner)
    for m in members[:LIST_MAX]:
        await _add(api, list_id, m)
    await _wait_members(api, list_id, members[:LIST_MAX])
    err = await _add(api, list_id, extra, 409)
    assert err["error"]["code"] == "list_full"
    await _add(api, list_id, members[0])  # already a member: no room needed
    await api.call("DELETE", f"/v1/lists/{list_id}/members/{members[0]['id']}", 200)
    await _wait_members(api, list_id, members[1:LIST_MAX])
    await _add(api, list_id, later)
    await _wait_members(api, list_id, [*members[1:LIST_MAX], later])


async def test_the_projection_ignores_adds_beyond_the_cap_in_log_order(api: Api, engine) -> None:
    owner, *members = [await api.user() for _ in range(LIST_MAX + 2)]
    list_id = await _list(api, owner)
    await _append_adds(engine, list_id, owner, members)
    kept = members[:LIST_MAX]
    posts = [await api.tweet(m, "in or out") for m in members]
    await _wait_members(api, list_id, kept)
    await api.wait_ids(f"/v1/lists/{list_id}/tweets", [p["id"] for p in posts[:LIST_MAX]])
    await settled(engine)
    assert sorted((await api.get(f"/v1/lists/{list_id}"))["member_ids"], key=int) == sorted(
        (m["id"] for m in kept), key=int
    )
    assert not {p["id"] for p in posts[LIST_MAX:]} & set(
        await api.ids(f"/v1/lists/{list_id}/tweets")
    )


async def test_members_are_paged_highest_id_first_like_followers(api: Api) -> None:
    owner, *members = [await api.user() for _ in range(LIST_MAX + 1)]
    list_id = await _list(api, owner)
    for m in members[:LIST_MAX]:
        await _add(api, list_id, m)
    await _wait_members(api, list_id, members[:LIST_MAX])
    want = sorted((m["id"] for m in members[:LIST_MAX]), key=int, reverse=True)
    first = await api.get(f"/v1/lists/{list_id}/members", count=3)
    assert [u["id"] for u in first["users"]] == want[:3]
    assert {u["handle"] for u in first["users"]} <= {m["handle"] for m in members}
    rest = await api.get(f"/v1/lists/{list_id}/members", count=3, max_id=first["next_max_id"])
    assert [u["id"] for u in rest["users"]] == want[3:]
    assert "next_max_id" not in rest
    everyone = await api.get(f"/v1/lists/{list_id}/members", count=200)
    assert [u["id"] for u in everyone["users"]] == want and "next_max_id" not in everyone
    err = await api.call("GET", "/v1/lists/1/members", 404)
    assert err["error"]["code"] == "list_not_found"
    err = await api.call("GET", f"/v1/lists/{list_id}/members", 400, params={"count": "0"})
    assert err["error"]["code"] == "invalid_count"


async def test_a_list_page_shows_exactly_its_members_tweets(api: Api) -> None:
    owner, a, b, c, stranger = [await api.user() for _ in range(5)]
    before_a = await api.tweet(a, "before a joined")
    list_id = await _list(api, owner)
    for m in (a, b, c):
        await _add(api, list_id, m)
    ta, tb, tc, ts = [await api.tweet(u, "after") for u in (a, b, c, stranger)]
    doomed = await api.tweet(a, "deleted soon")
    path = f"/v1/lists/{list_id}/tweets"
    await api.wait_ids(path, [before_a["id"], ta["id"], tb["id"], tc["id"], doomed["id"]])
    await api.call("DELETE", f"/v1/lists/{list_id}/members/{b['id']}", 200)
    await visible(api, doomed)
    await api.call("DELETE", f"/v1/tweets/{doomed['id']}", 202)
    await api.wait_ids(path, [before_a["id"], ta["id"], tc["id"]])
    await _add(api, list_id, b)  # a return brings the member's recent tweets back
    await api.wait_ids(path, [before_a["id"], ta["id"], tb["id"], tc["id"]])
    page = await api.get(path, count=2)
    assert [t["id"] for t in page["tweets"]] == [tc["id"], tb["id"]]
    older = await api.get(path, count=2, max_id=page["next_max_id"])
    assert [t["id"] for t in older["tweets"]] == [ta["id"], before_a["id"]]
    assert ts["id"] not in await api.ids(path)


async def test_a_list_page_costs_the_same_store_reads_whatever_its_size(api: Api, engine) -> None:
    owner, *members = [await api.user() for _ in range(LIST_MAX)]
    small, large = await _list(api, owner, "small"), await _list(api, owner, "large")
    await _add(api, small, members[0])
    for m in members:
        await _add(api, large, m)
    posts = [await api.tweet(m, "counted") for m in members]
    await api.wait_ids(f"/v1/lists/{small}/tweets", [posts[0]["id"]])
    await api.wait_ids(f"/v1/lists/{large}/tweets", [p["id"] for p in posts])
    await settled(engine)
    reads = {}
    for list_id in (small, large):
        with _store_calls(engine) as calls:
            await api.get(f"/v1/lists/{list_id}/tweets", count=20)
        reads[list_id] = len(calls)
    assert reads[small] == reads[large] <= 2, reads


async def test_a_rebuilt_lists_projection_equals_the_live_one(api: Api, engine) -> None:
    owner, *members = [await api.user() for _ in range(LIST_MAX + 2)]
    list_id = await _list(api, owner, "rebuilt")
    await _append_adds(engine, list_id, owner, members)  # two beyond the cap
    posts = [await api.tweet(m, f"rebuild {i}") for i, m in enumerate(members)]
    await api.call("DELETE", f"/v1/lists/{list_id}/members/{members[1]['id']}", 200)
    path = f"/v1/lists/{list_id}/tweets"
    await api.wait_ids(path, [p["id"] for i, p in enumerate(posts[:LIST_MAX]) if i != 1])
    await visible(api, posts[0])  # ingest finds the tweet to delete in the tweet store
    await api.call("DELETE", f"/v1/tweets/{posts[0]['id']}", 202)
    await api.wait_ids(path, [p["id"] for p in posts[2:LIST_MAX]])
    await settled(engine)
    live, live_page = await _snapshot(engine, "lists"), await api.ids(path)

    await rebuild(engine.settings, "lists", io.StringIO())

    assert await _snapshot(engine, "lists") == live
    assert await api.ids(path) == live_page
