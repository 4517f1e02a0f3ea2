"""The checks projector folds a batch's follows and unfollows by event time, not log order."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from engine.events import Followed, Unfollowed
from engine.ports import LogRecord
from fanout.checks import ChecksProjector


class Recorder:
    """A CheckStore stand-in that records the edge writes it is asked for."""

    def __init__(self) -> None:
        self.edges: list[tuple[tuple[int, int], bool, int]] = []

    async def set_edges(
        self, pairs: Sequence[tuple[int, int]], present: bool, ts_us: Sequence[int]
    ) -> None:
        self.edges += [(p, present, t) for p, t in zip(pairs, ts_us, strict=True)]

    async def put_tweets(self, tweets: Sequence[Any]) -> None:
        assert not tweets

    async def put_list_owners(self, owners: Sequence[Any]) -> None:
        assert not owners

    async def delete_tweets(self, tweets: Sequence[Any]) -> None:
        assert not tweets


def _record(offset: int) -> LogRecord:
    return LogRecord("graph", 0, offset, b"")


async def test_a_late_duplicate_of_an_older_follow_does_not_undo_a_newer_unfollow() -> None:
    store = Recorder()
    projector = ChecksProjector(SimpleNamespace(checks=store))  # type: ignore[arg-type]
    follow = Followed(1, 100, 7, 8)
    unfollow = Unfollowed(2, 200, 7, 8)
    # the follow's record landed again (a retried append) after the unfollow
    batch = [(_record(0), follow), (_record(1), unfollow), (_record(2), follow)]
    await projector.apply(batch)
    assert store.edges == [((7, 8), False, 200)]


async def test_the_newest_change_of_a_pair_wins_whatever_the_batch_order() -> None:
    store = Recorder()
    projector = ChecksProjector(SimpleNamespace(checks=store))  # type: ignore[arg-type]
    unfollow, refollow = Unfollowed(1, 100, 7, 8), Followed(2, 300, 7, 8)
    await projector.apply([(_record(0), refollow), (_record(1), unfollow)])
    assert store.edges == [((7, 8), True, 300)]
