"""The checks group reads posts as their ids alone (engine/events.decode_posted_ids): the same
events as decode_all for everything else, the same errors, and the ids it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest

from engine.errors import EventTooNew, PoisonEvent
from engine.events import (
    Followed,
    PostedTweetId,
    TweetDeleted,
    TweetPosted,
    decode_all,
    decode_posted_ids,
    encode,
    encode_pack,
)
from engine.ports import LogRecord
from engine.records import Mention, Tweet
from fanout.checks import ChecksProjector

pytestmark = pytest.mark.unit


def _tweet(n: int) -> Tweet:
    return Tweet(
        1000 + n,
        7,
        "alice",
        f"Сәлем #ტვიტერი @bob {n}",
        1_700_000_000_000,
        None,
        ("ტვიტერი",),
        (Mention(33, "bob"),),
        ("https://x.y",),
    )


POSTS = [TweetPosted(100 + n, 200 + n, _tweet(n)) for n in range(5)]


def _ids(posts: Sequence[TweetPosted]) -> list[PostedTweetId]:
    return [PostedTweetId(p.event_id, p.ts_us, p.tweet.id) for p in posts]


def test_a_pack_of_posts_and_a_single_post_are_read_as_their_ids() -> None:
    assert decode_posted_ids(encode_pack(POSTS)) == _ids(POSTS)
    assert decode_posted_ids(encode(POSTS[0])) == _ids(POSTS[:1])
    assert all(e.type_name == "tweet_posted" for e in decode_posted_ids(encode_pack(POSTS)))


@pytest.mark.parametrize(
    "blob",
    [
        encode_pack([*POSTS[:2], TweetDeleted(300, 301, _tweet(0))]),  # not posts only
        encode(TweetDeleted(300, 301, _tweet(0))),
        encode(Followed(1, 2, 3, 4)),
    ],
)
def test_any_other_record_is_read_whole(blob: bytes) -> None:
    assert decode_posted_ids(blob) == decode_all(blob)


def _inner() -> dict[str, Any]:
    return dict(msgpack.unpackb(encode(POSTS[0]), raw=False))


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (b"\xc1", PoisonEvent),
        (b"", PoisonEvent),
        (msgpack.packb({"v": 1, "type": "pack", "sv": 1, "events": []}), PoisonEvent),
        (msgpack.packb({"v": 1, "type": "pack", "sv": 2, "events": [_inner()]}), EventTooNew),
        (msgpack.packb({"v": 2, "type": "pack", "sv": 1, "events": [_inner()]}), EventTooNew),
        (msgpack.packb({**_inner(), "v": 2}), EventTooNew),
        (msgpack.packb({**_inner(), "sv": 2}), EventTooNew),
        (msgpack.packb({**_inner(), "type": "tweet_edited"}), EventTooNew),
    ],
)
def test_what_decode_all_refuses_is_refused_alike(blob: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_all(blob)
    with pytest.raises(error):
        decode_posted_ids(blob)


class Kept:
    def __init__(self) -> None:
        self.tweets: list[int] = []

    async def put_tweets(self, tweets: Sequence[int]) -> None:
        self.tweets += tweets

    async def put_list_owners(self, owners: Sequence[Any]) -> None:
        assert not owners

    async def set_edges(self, pairs: Sequence[Any], present: bool, ts: Sequence[int]) -> None:
        assert not pairs

    async def delete_tweets(self, tweets: Sequence[Any]) -> None:
        assert not tweets


async def test_the_checks_keep_the_ids_of_posts_read_either_way() -> None:
    kept = Kept()
    projector = ChecksProjector(SimpleNamespace(checks=kept))  # type: ignore[arg-type]
    record = LogRecord("tweets", 0, 0, b"")
    lean = projector.decode(encode_pack(POSTS[:3]))
    whole = decode_all(encode_pack(POSTS[3:]))  # a dead letter replayed is read whole
    await projector.apply([(record, e) for e in [*lean, *whole]])
    assert sorted(kept.tweets) == [p.tweet.id for p in POSTS]


def test_a_posted_id_is_never_appended() -> None:
    """It is what the checks read of a post, not an event of the log: encoding it refuses."""
    with pytest.raises(TypeError):
        encode(PostedTweetId(1, 2, 3))
    with pytest.raises(TypeError):
        encode_pack([POSTS[0], PostedTweetId(1, 2, 3)])
