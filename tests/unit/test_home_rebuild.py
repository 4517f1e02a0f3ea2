"""The home rebuild's bounds and its newest-first read of the followees' timelines."""

import random
from types import SimpleNamespace
from typing import Any

import pytest

from engine.config import Settings
from engine.home_rebuild import newest_of, returning_after_us, settle_us, skip_after_us
from engine.records import PageQuery, Tweet

pytestmark = pytest.mark.unit


def test_readers_treat_a_user_as_returning_before_fanout_skips_them() -> None:
    settings = Settings(inactive_after_s=600, activity_cache_s=10.0, activity_margin_s=2.0)
    assert skip_after_us(settings) == 600_000_000
    assert returning_after_us(settings) == 598_000_000 < skip_after_us(settings)
    assert settle_us(settings) == 12_000_000
    assert skip_after_us(Settings(inactive_after_s=0)) == 0  # never skips


class Timelines:
    """User timelines in memory, counting the rows each read returns."""

    def __init__(self, tweets: list[Tweet]) -> None:
        self.tweets = sorted(tweets, key=lambda t: -t.id)
        self.rows_read = 0

    async def user_page(self, author_id: int, query: PageQuery, op: str = "page") -> list[Tweet]:
        top = query.max_id if query.max_id is not None else 1 << 62
        page = [t for t in self.tweets if t.author_id == author_id and t.id <= top]
        self.rows_read += len(page[: query.count])
        return page[: query.count]


def tweets_of(authors: int, each: int, seed: int) -> list[Tweet]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10**9), authors * each)
    return [Tweet(i, i % authors, f"u{i % authors}", "t", 0) for i in ids]


@pytest.mark.parametrize(("authors", "each", "cap"), [(1, 5, 3), (3, 200, 50), (40, 30, 100)])
async def test_newest_of_is_the_newest_cap_tweets_of_the_authors(
    authors: int, each: int, cap: int
) -> None:
    tweets = tweets_of(authors, each, seed=authors)
    timelines = Timelines(tweets)
    backend: Any = SimpleNamespace(timelines=timelines)
    found = await newest_of(backend, list(range(authors)), cap)
    assert found == sorted(tweets, key=lambda t: -t.id)[:cap]
    assert timelines.rows_read < len(tweets) or len(tweets) <= 2 * cap
