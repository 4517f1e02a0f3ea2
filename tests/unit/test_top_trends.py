"""Trends are ranked once per cache period, off the event loop; a request slices the top."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from readers.trends import TopTrends, top

pytestmark = pytest.mark.unit


def test_top_keeps_the_k_highest_counts_ties_by_tag() -> None:
    counts = {"b": 5, "a": 5, "c": 9, "d": 1, "e": 5}
    assert top(counts, 3) == [("c", 9), ("a", 5), ("b", 5)]
    assert top(counts, 10) == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert top({}, 3) == []


async def test_concurrent_requests_share_one_ranking_per_period() -> None:
    calls: list[list[int]] = []
    release = asyncio.Event()

    async def window_sum(minutes: Sequence[int]) -> dict[str, int]:
        calls.append(list(minutes))
        await release.wait()
        return {f"t{i}": i for i in range(1000)}

    trends = TopTrends(window_sum, keep=50, cache_s=3600)
    waiting = [asyncio.create_task(trends.top(60, n)) for n in (1, 10, 50)]
    await asyncio.sleep(0)
    release.set()
    first, ten, fifty = await asyncio.gather(*waiting)
    assert first == [("t999", 999)]
    assert [n for _, n in ten] == list(range(999, 989, -1)) and len(fifty) == 50
    assert await trends.top(60, 5) == fifty[:5]  # from the ranking kept
    assert len(calls) == 1 and len(calls[0]) == 60
    await trends.top(5, 5)  # another window has a ranking of its own
    assert len(calls) == 2 and len(calls[1]) == 5
