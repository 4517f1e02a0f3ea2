"""Direct messages never leak: after a mixed workload, no public view holds one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from tests.support import Api, eventually, settled, table_rows

PRIVATE_TABLES = {"messages_by_user", "conversations"}


async def _tables(engine) -> list[str]:
    if engine.settings.backend == "kafka-cassandra":
        rows = await table_rows(
            engine,
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (engine.settings.cassandra_keyspace,),
        )
    else:
        rows = await table_rows(engine, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return sorted(r[0] for r in rows)


async def test_no_public_view_holds_a_direct_message(api: Api, engine) -> None:
    marker = f"secret{uuid.uuid4().hex[:10]}"
    alice, bob = await api.user(), await api.user()
    await api.follow(bob, alice)
    await api.follow(alice, bob)
    await eventually(
        lambda: api.ids(f"/v1/users/{alice['id']}/followers", "users"), lambda ids: bob["id"] in ids
    )
    lst = await api.call("POST", "/v1/lists", 201, json={"owner_id": bob["id"], "name": "x"})
    await api.call("PUT", f"/v1/lists/{lst['id']}/members/{alice['id']}", 200)
    await api.tweet(alice, f"public #open{uuid.uuid4().hex[:6]} @{bob['handle']}")
    await api.call(
        "POST",
        "/v1/direct_messages",
        202,
        json={
            "sender_id": alice["id"],
            "recipient_id": bob["id"],
            "text": f"{marker} #{marker} @{bob['handle']}",
        },
    )
    await api.call(
        "POST",
        "/v1/tweets",
        202,
        json={"author_id": bob["id"], "text": f"d {alice['handle']} {marker} again #{marker}"},
    )
    await eventually(
        lambda: api.ids(f"/v1/users/{bob['id']}/direct_messages", "messages"),
        lambda ids: len(ids) == 2,
    )
    await settled(engine)

    found = []
    for table in await _tables(engine):
        rows = await table_rows(engine, f"SELECT * FROM {table}")
        if any(marker.encode() in repr(r).encode() or marker in repr(r) for r in rows):
            found.append(table)
    assert set(found) <= PRIVATE_TABLES, f"a direct message leaked into {found}"
    assert set(found) == PRIVATE_TABLES, "the messages should be in their own views"
    trends = await api.get("/v1/trends", window="5m", count=50)
    assert all(
        not t["hashtag"].startswith(marker) or t["hashtag"].endswith("pub")
        for t in trends["trends"]
    )


async def test_oversized_bodies_are_refused(api: Api) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(32):
            yield b" " * 65536  # 2 MiB in all, twice the 1 MiB limit
        yield b"}"

    resp = await api.client.post(
        "/v1/tweets", data=body(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"
