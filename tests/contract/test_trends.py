"""The TrendStore port: per-minute, per-partition hashtag counts with their offsets."""

from __future__ import annotations

import random
import time

from engine.ports import Backend, TrendRow, TrendTweet


def minute() -> int:
    """A minute of the last day no other test writes (rows live two days)."""
    return time.time_ns() // 60_000_000_000 - random.randrange(1, 1440)


async def test_missing_rows_are_empty_before_any_offset(backend: Backend) -> None:
    m = minute()
    assert await backend.trends.rows([(m, 0)]) == {(m, 0): TrendRow(m, 0, {}, -1)}


async def test_rows_are_overwritten_without_their_zero_counts(backend: Backend) -> None:
    m = minute()
    await backend.trends.put_rows([TrendRow(m, 1, {"әлем": 2, "x": 1}, 5)])
    await backend.trends.put_rows([TrendRow(m, 1, {"әлем": 3, "x": 0}, 6)])
    assert await backend.trends.rows([(m, 1)]) == {(m, 1): TrendRow(m, 1, {"әлем": 3}, 6)}


async def test_a_window_sums_minutes_and_partitions(backend: Backend) -> None:
    m = minute()
    tag = f"t{random.randrange(10**9)}"
    await backend.trends.put_rows(
        [
            TrendRow(m, 0, {tag: 2, "gone": -1}, 1),
            TrendRow(m, 2, {tag: 1}, 4),
            TrendRow(m - 1, 0, {tag: 4}, 0),
            TrendRow(m - 5, 0, {tag: 100}, 0),
        ]
    )
    window = await backend.trends.window([m, m - 1])
    assert window[tag] == 7
    assert "gone" not in window


async def test_rows_remember_the_tweets_they_counted(backend: Backend) -> None:
    m = minute()
    await backend.trends.put_rows([TrendRow(m, 2, {"a": 1}, 7, {11: TrendTweet(1, 7)})])
    await backend.trends.put_rows(
        [TrendRow(m, 2, {"a": 1}, 9, {12: TrendTweet(1, 8), 11: TrendTweet(-1, 9)})]
    )
    row = (await backend.trends.rows([(m, 2)]))[(m, 2)]
    assert row.tweets == {11: TrendTweet(-1, 9), 12: TrendTweet(1, 8)}
    assert (row.counts, row.applied_offset) == ({"a": 1}, 9)
    assert (await backend.trends.rows([(m, 1)]))[(m, 1)].tweets == {}
