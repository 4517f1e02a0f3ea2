"""`timeline rebuild`: an emptied projection, replayed from the log, equals the live one."""

from __future__ import annotations

import io

import msgpack
import pytest

from tests.integration.test_features import visible
from tests.support import Api, eventually, settled, table_rows
from timeline.rebuild import rebuild

# the embedded trend rows also keep when they were written, for their expiry (Cassandra's TTL)
COLUMNS = {
    "trend_minutes": "minute, log_partition, counts, applied_offset",
    "trend_tweets": "minute, log_partition, tweet_id, delta, applied_offset",
}
TABLES = {
    "index": ("hashtag_timeline", "hashtag_days", "mention_timeline"),
    "lists": ("lists", "list_members", "lists_by_member", "list_timeline", "list_author_tweets"),
    "messages": ("messages_by_user", "conversations"),
    "trends": ("trend_minutes", "trend_tweets"),
    "checks": (
        "check_tweets",
        "check_tweet_buckets",
        "check_tweet_packs",
        "check_follows",
        "check_lists",
    ),
}
REBUILDABLE = list(TABLES)
# Compared by the concurrency test too, not rebuilt here (its own fixtures write them).
TABLES["search"] = ("search_tweets", "search_buckets")
TABLES["timelines"] = (
    "users",
    "users_by_handle",
    "following",
    "followers",
    "follow_changes",
    "graph_counts",
    "tweets",
    "user_timeline",
    "home_timeline",
    "celebrities",
)
# Partitioning and bookkeeping aids of the Cassandra schema that the embedded store does without
CASSANDRA_ONLY = (
    "hashtag_days",
    "follow_changes",
    "search_buckets",
    "check_tweet_buckets",
    "check_tweet_packs",
)
# ... and the embedded store's one-row-per-tweet table that Cassandra keeps in buckets
EMBEDDED_ONLY = ("check_tweets",)


async def _rows(engine, table: str) -> list[tuple]:
    columns = COLUMNS.get(table, "*")
    rows = await table_rows(engine, f"SELECT {columns} FROM {table}")
    if table == "check_tweet_packs":  # a replay may pack the same ids in other rows
        rows = list({(r[0], i) for r in rows for i in msgpack.unpackb(r[3])[0]})
    return sorted(rows, key=repr)


async def _snapshot(engine, projection: str) -> dict[str, list[tuple]]:
    tables = TABLES[projection]
    if engine.settings.backend == "embedded":
        tables = tuple(t for t in tables if t not in CASSANDRA_ONLY)
    else:
        tables = tuple(t for t in tables if t not in EMBEDDED_ONLY)
    return {t: await _rows(engine, t) for t in tables}


@pytest.mark.parametrize("projection", REBUILDABLE)
async def test_a_rebuilt_projection_equals_the_live_one_row_for_row(
    api: Api, engine, projection: str
) -> None:
    author, fan = await api.user(), await api.user()
    await api.follow(fan, author)
    lst = await api.call("POST", "/v1/lists", 201, json={"owner_id": fan["id"], "name": "r"})
    await api.call("PUT", f"/v1/lists/{lst['id']}/members/{author['id']}", 200)
    tweets = [await api.tweet(author, f"#rebuild{i % 3} @{fan['handle']} {i}") for i in range(6)]
    await visible(api, tweets[0])  # ingest finds the tweet to delete in the tweet store
    await api.call("DELETE", f"/v1/tweets/{tweets[0]['id']}", 202)
    await eventually(lambda: api.ids(f"/v1/users/{fan['id']}/followers", "users"), lambda _: True)
    await eventually(
        lambda: api.ids(f"/v1/users/{author['id']}/followers", "users"),
        lambda ids: ids == [fan["id"]],
    )
    dm = await api.call(
        "POST",
        "/v1/direct_messages",
        202,
        json={"sender_id": author["id"], "recipient_id": fan["id"], "text": "for the rebuild"},
    )
    await api.wait_ids(f"/v1/users/{fan['id']}/mentions", [t["id"] for t in tweets[1:]])
    await eventually(
        lambda: api.ids(f"/v1/users/{fan['id']}/direct_messages", "messages"),
        lambda ids: dm["id"] in ids,
    )
    await settled(engine)
    live = await _snapshot(engine, projection)
    assert any(live.values()), "the live projection should hold rows before the rebuild"

    out = io.StringIO()
    replayed = await rebuild(engine.settings, projection, out)

    assert replayed > 0
    assert f"rebuilt {projection}: {replayed} events replayed" in out.getvalue()
    assert await _snapshot(engine, projection) == live
