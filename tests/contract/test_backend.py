"""The Backend port itself: emptying projection tables before a rebuild."""

from __future__ import annotations

from engine.ports import Backend
from engine.records import PageQuery
from engine.tables import PROJECTION_TABLES
from tests.contract.helpers import an_hour_ago_us, new_ids, tweet


async def test_truncate_empties_rows_and_their_tombstones(backend: Backend) -> None:
    owner, author = new_ids(2)
    removed, kept = tweet(author), tweet(author)
    ts = an_hour_ago_us()
    await backend.timelines.add_home_rows(owner, [(removed, ts), (kept, ts)])
    await backend.timelines.remove_home_rows(owner, [removed.id], ts + 1)
    await backend.truncate(["home_timeline"])
    assert await backend.timelines.home_page(owner, PageQuery()) == []
    await backend.timelines.add_home_rows(owner, [(removed, ts)])
    assert await backend.timelines.home_page(owner, PageQuery()) == [removed]


async def test_truncate_takes_every_projection_table_and_empties_them(backend: Backend) -> None:
    owner, author = new_ids(2)
    posted = tweet(author)
    await backend.timelines.add_home_rows(owner, [(posted, an_hour_ago_us())])
    await backend.index.add_mention_rows(owner, [(posted, an_hour_ago_us())])
    await backend.truncate(PROJECTION_TABLES)
    assert await backend.timelines.home_page(owner, PageQuery()) == []
    assert await backend.index.mention_page(owner, PageQuery()) == []
