"""fanout/graph.GraphApplier on the embedded store: counts guarded by offsets, stale changes
skipped, a follow's backfill and an unfollow's cleanup of the home timeline."""

from __future__ import annotations

import dataclasses

import pytest

from engine.config import Settings
from engine.errors import StoreUnavailable
from engine.events import GRAPH_TOPIC, Followed, Unfollowed, UserRegistered
from engine.ports import Backend, CountRow, LogRecord
from engine.records import PageQuery, Tweet
from fanout.graph import FollowItem, GraphApplier, _current

pytestmark = pytest.mark.unit
A, B, C = 101, 102, 103  # A is followed; B and C follow
NOW_US = 1_700_000_000_000_000
SETTINGS = Settings(follow_backfill_count=2)


def follow(offset: int, ts_us: int, follower: int = B, followee: int = A) -> FollowItem:
    return LogRecord(GRAPH_TOPIC, 0, offset, b""), Followed(offset, ts_us, follower, followee)


def unfollow(offset: int, ts_us: int, follower: int = B, followee: int = A) -> FollowItem:
    return LogRecord(GRAPH_TOPIC, 0, offset, b""), Unfollowed(offset, ts_us, follower, followee)


async def counts(backend: Backend) -> tuple[int, int]:
    """A's followers and B's following, as stored."""
    rows = await backend.graph.count_rows([(A, 0), (B, 0)])
    return rows[(A, 0)].followers, rows[(B, 0)].following


async def follows(backend: Backend) -> bool:
    return (await backend.graph.edges_exist([(B, A)]))[(B, A)]


def test_current_keeps_newer_changes_and_the_last_one_applied_again() -> None:
    changed, present = {(B, A): 150}, {(B, A): False}
    items = [
        follow(1, 100),  # older than the last change
        follow(2, 200),
        follow(3, 200),  # the same change again (a second record, or a batch applied again)
        unfollow(4, 200),  # a different change in the same microsecond: the first one wins
        unfollow(5, 300),
        follow(6, 250),
    ]
    kept = _current(items, changed, present)
    assert [r.offset for r, _ in kept] == [2, 3, 5]
    assert changed == {(B, A): 300}
    assert present == {(B, A): False}


def test_current_applies_again_the_change_the_edge_already_shows() -> None:
    kept = _current([follow(1, 200), unfollow(2, 200)], {(B, A): 200}, {(B, A): True})
    assert [r.offset for r, _ in kept] == [1]


async def test_a_replayed_follow_counts_once(embedded: Backend) -> None:
    item = follow(5, NOW_US)
    applier = GraphApplier(SETTINGS, embedded)
    await applier.apply_follows([item])
    await applier.apply_follows([item])  # the same batch again
    await GraphApplier(SETTINGS, embedded).apply_follows([item])  # after a restart
    assert await follows(embedded)
    assert await counts(embedded) == (1, 1)


async def test_counts_already_past_the_offset_are_kept_and_the_edge_written(
    embedded: Backend,
) -> None:
    # a crash after the counts were written and before the edge was
    await embedded.graph.put_count_rows(
        [
            CountRow(A, 0, followers=1, applied_offset=5),
            CountRow(B, 0, following=1, applied_offset=5),
        ]
    )
    await GraphApplier(SETTINGS, embedded).apply_follows([follow(5, NOW_US)])
    assert await follows(embedded)
    assert await counts(embedded) == (1, 1)


async def test_an_older_change_than_the_edge_is_skipped(embedded: Backend) -> None:
    applier = GraphApplier(SETTINGS, embedded)
    await applier.apply_follows([follow(1, NOW_US + 200)])
    await applier.apply_follows([unfollow(2, NOW_US + 100)])  # from a skewed clock
    assert await follows(embedded)
    assert await counts(embedded) == (1, 1)


async def test_a_late_second_record_of_a_follow_does_not_undo_an_unfollow(
    embedded: Backend,
) -> None:
    applier = GraphApplier(SETTINGS, embedded)
    first = follow(1, NOW_US)
    await applier.apply_follows([first, unfollow(2, NOW_US + 100)])
    again = follow(3, NOW_US)  # a retried request re-appended the first attempt's event
    await applier.apply_follows([again])
    assert not await follows(embedded)
    assert await counts(embedded) == (0, 0)


async def test_following_twice_and_unfollowing_a_stranger_change_no_count(
    embedded: Backend,
) -> None:
    applier = GraphApplier(SETTINGS, embedded)
    await applier.apply_follows([follow(1, NOW_US), follow(2, NOW_US + 1)])
    await applier.apply_follows([unfollow(3, NOW_US + 2, follower=C)])
    assert await counts(embedded) == (1, 1)
    rows = await embedded.graph.count_rows([(C, 0)])
    assert rows[(C, 0)].following == 0


async def test_a_follow_backfills_and_an_unfollow_cleans_the_home_timeline(
    embedded: Backend,
) -> None:
    mine = [Tweet(i, A, "a", f"t{i}", 0) for i in (11, 12, 13)]
    other = Tweet(21, C, "c", "kept", 0)
    await embedded.timelines.put_tweets([*mine, other], [NOW_US] * 4)
    await embedded.timelines.add_home_rows(B, [(other, NOW_US)])
    applier = GraphApplier(SETTINGS, embedded)

    await applier.apply_follows([follow(1, NOW_US + 10)])
    home = await embedded.timelines.home_page(B, PageQuery())
    assert [t.id for t in home] == [21, 13, 12]  # A's newest follow_backfill_count

    await applier.apply_follows([unfollow(2, NOW_US + 20)])
    home = await embedded.timelines.home_page(B, PageQuery())
    assert [t.id for t in home] == [21]


async def test_a_follow_whose_backfill_failed_backfills_when_its_batch_is_applied_again(
    embedded: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweet = Tweet(11, A, "a", "posted before the follows", 0)
    await embedded.timelines.put_tweets([tweet], [NOW_US])
    batch = [follow(1, NOW_US + 10), follow(2, NOW_US + 20)]  # following twice
    applier = GraphApplier(SETTINGS, embedded)
    with monkeypatch.context() as m:  # the store times out on the backfill's home rows
        m.setattr(embedded.timelines, "put_home_rows", unavailable)
        with pytest.raises(StoreUnavailable):
            await applier.apply_follows(batch)
    assert await follows(embedded)  # the edge was written before the backfill failed
    await applier.apply_follows(batch)  # the consumer applies the batch again
    assert [t.id for t in await embedded.timelines.home_page(B, PageQuery())] == [11]
    assert await counts(embedded) == (1, 1)


async def test_an_unfollow_whose_cleanup_failed_cleans_when_its_batch_is_applied_again(
    embedded: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweet = Tweet(11, A, "a", "backfilled", 0)
    await embedded.timelines.put_tweets([tweet], [NOW_US])
    applier = GraphApplier(SETTINGS, embedded)
    await applier.apply_follows([follow(1, NOW_US + 10)])
    batch = [unfollow(2, NOW_US + 20)]
    with monkeypatch.context() as m:
        m.setattr(embedded.timelines, "remove_home_rows_many", unavailable)
        with pytest.raises(StoreUnavailable):
            await applier.apply_follows(batch)
    await applier.apply_follows(batch)
    assert await embedded.timelines.home_page(B, PageQuery()) == []
    assert await counts(embedded) == (0, 0)


async def unavailable(*_: object) -> None:
    raise StoreUnavailable("the store timed out")


async def test_users_are_stored_and_forget_drops_the_held_counts(embedded: Backend) -> None:
    applier = GraphApplier(SETTINGS, embedded)
    await applier.apply_users([UserRegistered(A, NOW_US, A, "alice", "Alice")])
    stored = await embedded.users.get_user(A)
    assert stored is not None and stored.handle == "alice"
    await applier.apply_follows([follow(1, NOW_US)])
    assert len(applier.held) == 2
    applier.forget()
    assert len(applier.held) == 0


async def test_the_held_counts_are_trimmed_after_each_batch(embedded: Backend) -> None:
    settings = dataclasses.replace(SETTINGS, projection_cache_rows=1)
    applier = GraphApplier(settings, embedded)
    await applier.apply_follows([follow(1, NOW_US)])  # two count rows: A's and B's
    assert len(applier.held) == 1
    await applier.apply_follows([unfollow(2, NOW_US + 1)])  # the other is read again
    assert await counts(embedded) == (0, 0)
