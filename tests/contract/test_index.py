"""The IndexStore port: hashtag timelines across days and mention timelines, by cursor."""

from __future__ import annotations

import time
import uuid

from engine.ids import make_id
from engine.ports import Backend
from engine.records import PageQuery
from tests.contract.helpers import ids_of, new_ids, now_us, tweet

DAY_MS = 86_400_000


def tag() -> str:
    return f"тег{uuid.uuid4().hex[:8]}"


def days_apart(author: int, n: int) -> list[int]:
    """n tweet ids a day apart, oldest first."""
    now_ms = time.time_ns() // 1_000_000
    return [make_id(now_ms - (n - i) * DAY_MS, 7, i) for i in range(n)]


async def test_a_tag_page_crosses_days_newest_first(backend: Backend) -> None:
    key, author = tag(), new_ids(1)[0]
    tweets = [tweet(author, tid) for tid in days_apart(author, 5)]
    await backend.index.add_tag_rows(key, [(t, now_us()) for t in tweets])
    ids = ids_of(tweets)[::-1]
    assert ids_of(await backend.index.tag_page(key, PageQuery(3))) == ids[:3]
    assert ids_of(await backend.index.tag_page(key, PageQuery(3, max_id=ids[2]))) == ids[2:5]
    assert ids_of(await backend.index.tag_page(key, PageQuery(20, since_id=ids[3]))) == ids[:3]
    assert await backend.index.tag_page(tag(), PageQuery()) == []


async def test_a_removed_tag_row_stays_removed_for_older_writes(backend: Backend) -> None:
    key, author = tag(), new_ids(1)[0]
    gone, kept = tweet(author), tweet(author)
    ts = now_us()
    await backend.index.add_tag_rows(key, [(gone, ts), (kept, ts)])
    await backend.index.remove_tag_row(key, gone, ts + 10)
    await backend.index.add_tag_rows(key, [(gone, ts + 10)])
    assert await backend.index.tag_page(key, PageQuery()) == [kept]


async def test_mention_pages_follow_cursors_and_removals(backend: Backend) -> None:
    mentioned, author = new_ids(2)
    tweets = [tweet(author) for _ in range(4)]
    ts = now_us()
    await backend.index.add_mention_rows(mentioned, [(t, ts) for t in tweets])
    await backend.index.remove_mention_row(mentioned, tweets[0].id, ts + 1)
    await backend.index.add_mention_rows(mentioned, [(tweets[0], ts)])
    ids = ids_of(tweets[1:])[::-1]
    assert ids_of(await backend.index.mention_page(mentioned, PageQuery(2))) == ids[:2]
    page = await backend.index.mention_page(mentioned, PageQuery(5, ids[1], ids[2]))
    assert ids_of(page) == ids[1:2]
