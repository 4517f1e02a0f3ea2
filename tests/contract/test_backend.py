"""The Backend port itself: emptying projection tables before a rebuild."""

from __future__ import annotations

from engine.ports import Backend
from engine.records import PageQuery
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


async def test_truncate_knows_every_projection_table(backend: Backend) -> None:
    await backend.truncate(["hashtag_timeline", "hashtag_days", "trend_minutes"])
