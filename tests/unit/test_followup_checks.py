"""Ingest's follow-up checks: positive answers at once, negative ones once the group caught up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from engine.config import Settings
from engine.errors import Unavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.ports import CheckedTweet
from engine.progress import Positions
from engine.records import Tweet
from ingest.checks import FollowUpChecks

pytestmark = pytest.mark.unit


class FakeChecks:
    """A checks projection that learns a row while the check waits for its group."""

    def __init__(self) -> None:
        self.owners: dict[int, int] = {}
        self.edges: set[tuple[int, int]] = set()

    async def list_owner(self, list_id: int) -> int | None:
        return self.owners.get(list_id)

    async def follows(self, follower_id: int, followee_id: int) -> bool:
        return (follower_id, followee_id) in self.edges

    async def tweet(self, tweet_id: int) -> None:
        return None


class FakeProgress:
    def __init__(self, store: FakeChecks, lagging: bool = False) -> None:
        self.store = store
        self.lagging = lagging
        self.asked: list[str] = []
        self.waited: list[Mapping[str, Positions]] = []
        self.tweet_store: FakeTweetStore | None = None

    async def ends(self, topic: str) -> Positions:
        self.asked.append(topic)
        return {(topic, 0): 7}

    async def wait_applied(self, groups: Mapping[str, Positions], timeout_s: float) -> None:
        self.waited.append(groups)
        if self.lagging:
            raise Unavailable("behind", code="projection_lagging")
        self.store.owners[1] = 99  # the group applied the list while we waited
        if self.tweet_store is not None:  # and the fan-out stored what was on its way
            self.tweet_store.tweets.update(self.tweet_store.arriving)


class FakeTweetStore:
    """A tweet store the fan-out writes a tweet into while a delete waits for it."""

    def __init__(self) -> None:
        self.tweets: dict[int, Tweet] = {}
        self.arriving: dict[int, Tweet] = {}  # stored once the fan-out group is waited for

    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        return self.tweets.get(tweet_id)


class FakeBackend:
    def __init__(self, checks: FakeChecks, timelines: FakeTweetStore | None = None) -> None:
        self.checks = checks
        self.timelines = timelines or FakeTweetStore()


def checks_of(
    store: FakeChecks, progress: FakeProgress, timelines: FakeTweetStore | None = None
) -> FollowUpChecks:
    backend: Any = FakeBackend(store, timelines)
    settings = Settings(consumer_group_prefix="p-", followup_wait_ms=250)
    return FollowUpChecks(backend, progress, settings)  # type: ignore[arg-type]


async def test_a_positive_answer_asks_nothing_of_the_log() -> None:
    store = FakeChecks()
    store.edges.add((1, 2))
    store.owners[5] = 6
    progress = FakeProgress(store)
    checks = checks_of(store, progress)
    assert await checks.follows(1, 2)
    assert await checks.list_owner(5) == 6
    assert progress.asked == [] and progress.waited == []


async def test_a_negative_answer_waits_for_the_group_then_reads_again() -> None:
    store = FakeChecks()
    progress = FakeProgress(store)
    checks = checks_of(store, progress)
    assert await checks.list_owner(1) == 99
    assert not await checks.follows(2, 1)
    assert await checks.tweet(3) is None
    assert progress.asked == [GRAPH_TOPIC, GRAPH_TOPIC, TWEETS_TOPIC]
    assert progress.waited[0] == {"p-checks": {(GRAPH_TOPIC, 0): 7}}


async def test_a_lagging_group_makes_a_negative_answer_unavailable() -> None:
    store = FakeChecks()
    checks = checks_of(store, FakeProgress(store, lagging=True))
    with pytest.raises(Unavailable) as lagging:
        await checks.tweet(3)
    assert lagging.value.code == "projection_lagging" and lagging.value.status == 503


def a_tweet(tweet_id: int) -> Tweet:
    return Tweet(tweet_id, 5, "five", "hi", 0)


async def test_a_delete_takes_the_whole_tweet_as_held_or_from_the_tweet_store() -> None:
    store, timelines = FakeChecks(), FakeTweetStore()
    progress = FakeProgress(store)
    progress.tweet_store = timelines
    checks = checks_of(store, progress, timelines)
    held = a_tweet(1)
    assert await checks.whole_tweet(CheckedTweet(1, True, held)) is held
    timelines.tweets[2] = a_tweet(2)
    assert await checks.whole_tweet(CheckedTweet(2)) == a_tweet(2)
    assert progress.waited == []  # found at once: nothing waited for
    timelines.arriving[3] = a_tweet(3)  # posted, not stored by the fan-out yet
    assert await checks.whole_tweet(CheckedTweet(3)) == a_tweet(3)
    assert progress.waited == [{"p-fanout": {(TWEETS_TOPIC, 0): 7}}]
    assert await checks.whole_tweet(CheckedTweet(4)) is None  # deleted from the store by then


async def test_a_lagging_fan_out_makes_a_delete_unavailable() -> None:
    store = FakeChecks()
    checks = checks_of(store, FakeProgress(store, lagging=True))
    with pytest.raises(Unavailable) as lagging:
        await checks.whole_tweet(CheckedTweet(3))
    assert lagging.value.code == "projection_lagging"
