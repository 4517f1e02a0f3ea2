"""Ingest's follow-up checks: positive answers at once, negative ones once the group caught up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from engine.errors import Unavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC
from engine.progress import Positions
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

    async def ends(self, topic: str) -> Positions:
        self.asked.append(topic)
        return {(topic, 0): 7}

    async def wait_applied(self, groups: Mapping[str, Positions], timeout_s: float) -> None:
        self.waited.append(groups)
        if self.lagging:
            raise Unavailable("behind", code="projection_lagging")
        self.store.owners[1] = 99  # the group applied the list while we waited


class FakeBackend:
    def __init__(self, checks: FakeChecks) -> None:
        self.checks = checks


def checks_of(store: FakeChecks, progress: FakeProgress) -> FollowUpChecks:
    backend: Any = FakeBackend(store)
    return FollowUpChecks(backend, progress, "p-checks", wait_ms=250)  # type: ignore[arg-type]


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
