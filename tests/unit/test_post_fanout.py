"""fanout/posts.PostFanout on the embedded store: a tweet's audience, inactive followers
skipped, high-follower authors fanned out to no one."""

from __future__ import annotations

import time

import pytest

from engine.config import Settings
from engine.events import Followed, TweetDeleted, TweetPosted
from engine.metrics import Metrics
from engine.ports import Backend
from engine.records import PageQuery, Tweet
from tests.support import post_fanout

pytestmark = pytest.mark.unit
AUTHOR, FAN, OTHER_FAN = 201, 202, 203
DAY_US = 86_400 * 1_000_000
SETTINGS = Settings(celebrity_threshold=2, inactive_after_s=30 * 86_400, celebrity_cache_s=0.0)


def now_us() -> int:
    return time.time_ns() // 1000


def posted(tweet_id: int, author: int = AUTHOR) -> TweetPosted:
    return TweetPosted(tweet_id, now_us(), Tweet(tweet_id, author, f"u{author}", "t", 0))


async def followed_by(backend: Backend, author: int, *followers: int) -> None:
    pairs = [(f, author) for f in followers]
    await backend.graph.put_edges(pairs, [now_us() - DAY_US] * len(pairs))


async def home_ids(backend: Backend, owner: int) -> list[int]:
    return [t.id for t in await backend.timelines.home_page(owner, PageQuery())]


def skipped(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("timeline_fanout_home_rows_skipped_total")


async def test_a_tweet_goes_to_its_author_and_every_follower(embedded: Backend) -> None:
    await followed_by(embedded, AUTHOR, FAN, OTHER_FAN)
    async with post_fanout(SETTINGS, embedded, Metrics()) as fanout:
        await fanout.apply_posts([posted(1), posted(2)])
    for owner in (AUTHOR, FAN, OTHER_FAN):
        assert await home_ids(embedded, owner) == [2, 1]
    assert [t.id for t in await embedded.timelines.user_page(AUTHOR, PageQuery())] == [2, 1]


async def test_inactive_followers_are_skipped_and_the_author_never(embedded: Backend) -> None:
    await followed_by(embedded, AUTHOR, FAN, OTHER_FAN)
    long_ago = now_us() - 60 * DAY_US
    await embedded.activity.mark_read(FAN, long_ago)
    await embedded.activity.mark_read(AUTHOR, long_ago)  # an author is not skipped by their own
    metrics = Metrics()
    async with post_fanout(SETTINGS, embedded, metrics) as fanout:
        await fanout.apply_posts([posted(1)])
    assert await home_ids(embedded, FAN) == []
    assert await home_ids(embedded, OTHER_FAN) == [1]  # no known activity: active
    assert await home_ids(embedded, AUTHOR) == [1]
    assert skipped(metrics) == 1


async def test_no_follower_is_skipped_when_skipping_is_off(embedded: Backend) -> None:
    await followed_by(embedded, AUTHOR, FAN)
    await embedded.activity.mark_read(FAN, now_us() - 60 * DAY_US)
    never = Settings(celebrity_threshold=2, inactive_after_s=0)
    async with post_fanout(never, embedded, Metrics()) as fanout:
        await fanout.apply_posts([posted(1)])
    assert await home_ids(embedded, FAN) == [1]


async def test_an_author_over_the_threshold_is_marked_and_fanned_out_to_no_one(
    embedded: Backend,
) -> None:
    celebrity, fans = 300, (301, 302, 303)  # 3 followers > threshold 2
    await followed_by(embedded, celebrity, *fans)
    await followed_by(embedded, AUTHOR, FAN, OTHER_FAN)  # 2 followers: at the threshold
    async with post_fanout(SETTINGS, embedded, Metrics()) as fanout:
        await fanout.apply_posts([posted(1, celebrity), posted(2)])
    assert await embedded.timelines.celebrities() == {celebrity}
    for owner in (celebrity, *fans):
        assert await home_ids(embedded, owner) == []
    assert [t.id for t in await embedded.timelines.user_page(celebrity, PageQuery())] == [1]
    assert await home_ids(embedded, FAN) == [2]


async def test_an_author_marked_elsewhere_is_not_fanned_out(embedded: Backend) -> None:
    await followed_by(embedded, AUTHOR, FAN)
    await embedded.timelines.mark_celebrity(AUTHOR)  # by another process, or earlier
    async with post_fanout(SETTINGS, embedded, Metrics()) as fanout:
        await fanout.apply_posts([posted(1)])
    assert await home_ids(embedded, AUTHOR) == []
    assert await home_ids(embedded, FAN) == []


async def test_a_delete_reaches_every_home_timeline(embedded: Backend) -> None:
    await followed_by(embedded, AUTHOR, FAN)
    first, second = posted(1), posted(2)
    async with post_fanout(SETTINGS, embedded, Metrics()) as fanout:
        await fanout.apply_posts([first, second])
        await fanout.apply_deletes([TweetDeleted(3, now_us() + 1, first.tweet)])
    assert await home_ids(embedded, FAN) == [2]
    assert await home_ids(embedded, AUTHOR) == [2]
    assert await embedded.timelines.get_tweet(1) is None


async def test_its_own_marks_join_the_held_set_at_once(
    embedded: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    celebrity = 300
    await followed_by(embedded, celebrity, 301, 302, 303)
    marked: list[int] = []
    mark = embedded.timelines.mark_celebrity

    async def counting(author_id: int) -> None:
        marked.append(author_id)
        await mark(author_id)

    monkeypatch.setattr(embedded.timelines, "mark_celebrity", counting)
    held = Settings(celebrity_threshold=2, celebrity_cache_s=60.0)
    async with post_fanout(held, embedded, Metrics()) as fanout:
        await fanout.apply_posts([posted(1, celebrity)])
        await fanout.apply_posts([posted(2, celebrity)])
    assert marked == [celebrity]  # the second batch knew it from the held set


async def test_a_follow_appended_to_the_log_reaches_the_audience_of_the_next_batch(
    embedded: Backend,
) -> None:
    async with post_fanout(SETTINGS, embedded, Metrics()) as fanout:
        await embedded.log.append(Followed(9, now_us(), FAN, AUTHOR))  # the log only
        await fanout.apply_posts([posted(1)])
    assert await home_ids(embedded, FAN) == [1]
