"""The trends projection on each backend's TrendStore: a tweet counts once, however many
records of its events the log holds, and a replay after a crash neither adds nor loses."""

from __future__ import annotations

import random
import uuid

import msgspec

from engine.events import Event, TweetDeleted, TweetPosted
from engine.ports import Backend, LogRecord
from fanout.projector import Decoded
from fanout.trends import TrendProjector, minute_of
from tests.contract.helpers import new_id, now_us, tweet


def partition() -> int:
    """A partition number no other test writes rows of (the store does not check it)."""
    return random.randrange(1000, 10**9)


def at(part: int, offset: int, event: Event) -> Decoded:
    return LogRecord("tweets", part, offset, b""), event


def tagged(tag: str) -> TweetPosted:
    author = new_id()
    return TweetPosted(new_id(), now_us(), msgspec.structs.replace(tweet(author), hashtags=(tag,)))


async def count(backend: Backend, tag: str, *events: TweetPosted) -> int:
    minutes = sorted({minute_of(e.tweet.id) for e in events})
    return (await backend.trends.window(minutes)).get(tag, 0)


async def test_a_second_record_of_one_post_is_not_counted(backend: Backend) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    post, other = tagged(tag), tagged(tag)
    p = partition()
    await TrendProjector(backend, 1000).apply([at(p, 10, post), at(p, 11, other)])
    await TrendProjector(backend, 1000).apply([at(p, 12, post)])  # a new consumer: from the store
    assert await count(backend, tag, post, other) == 2


async def test_a_late_record_of_a_deleted_post_and_a_second_delete_count_nothing(
    backend: Backend,
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    post, other = tagged(tag), tagged(tag)
    delete = TweetDeleted(new_id(), now_us(), post.tweet)
    projector, p = TrendProjector(backend, 1000), partition()
    await projector.apply([at(p, 20, post), at(p, 21, delete)])
    await projector.apply([at(p, 22, post)])
    assert await count(backend, tag, post, other) == 0
    await projector.apply([at(p, 23, delete), at(p, 24, other)])
    assert await count(backend, tag, post, other) == 1


async def test_a_replay_after_a_crash_counts_each_record_once(backend: Backend) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    first, second = tagged(tag), tagged(tag)
    p = partition()
    await TrendProjector(backend, 1000).apply([at(p, 30, first)])
    await TrendProjector(backend, 1000).apply([at(p, 30, first), at(p, 31, second)])
    assert await count(backend, tag, first, second) == 2


async def test_a_pack_applied_in_two_batches_then_replayed_counts_each_post_once(
    backend: Backend,
) -> None:
    """The posts of one record (a pack) share its offset: a row written after the first of
    them does not make the rest look counted, before or after a crash."""
    tag = f"t{uuid.uuid4().hex[:8]}"
    first, second, third = tagged(tag), tagged(tag), tagged(tag)
    p = partition()
    await TrendProjector(backend, 1000).apply([at(p, 40, first)])
    # a new consumer (after a crash) replays the whole pack: the rest of it still counts
    await TrendProjector(backend, 1000).apply([at(p, 40, first), at(p, 40, second)])
    projector = TrendProjector(backend, 1000)
    await projector.apply([at(p, 40, third)])
    assert await count(backend, tag, first, second, third) == 3
    await TrendProjector(backend, 1000).apply([at(p, 40, e) for e in (first, second, third)])
    assert await count(backend, tag, first, second, third) == 3
