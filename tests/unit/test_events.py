import msgpack
import pytest

from engine.errors import EventTooNew, PoisonEvent
from engine.events import (
    GRAPH_TOPIC,
    MESSAGES_TOPIC,
    TWEETS_TOPIC,
    DirectMessageSent,
    Followed,
    ListCreated,
    ListMemberAdded,
    ListMemberRemoved,
    PhoneRegistered,
    TweetDeleted,
    TweetPosted,
    Unfollowed,
    UserRegistered,
    decode,
    decode_all,
    encode,
    encode_pack,
    pack_message,
    pack_tweet,
    unpack_message,
    unpack_tweet,
)
from engine.records import DirectMessage, Mention, Tweet

pytestmark = pytest.mark.unit

TWEET = Tweet(
    11,
    22,
    "alice",
    "Сәлем #ტვიტერი @bob",
    1_700_000_000_000,
    5,
    ("ტვიტერი",),
    (Mention(33, "bob"),),
    ("https://x.y",),
)


@pytest.mark.parametrize(
    "event",
    [
        UserRegistered(1, 2, 3, "alice", "Алиса"),
        Followed(1, 2, 3, 4),
        Unfollowed(1, 2, 3, 4),
        TweetPosted(1, 2, TWEET),
        TweetDeleted(1, 2, TWEET),
        PhoneRegistered(1, 2, 3, "+77011234567"),
        ListCreated(1, 2, 3, 4, "Қазақша"),
        ListMemberAdded(1, 2, 3, 4, 5),
        ListMemberRemoved(1, 2, 3, 4, 5),
        DirectMessageSent(1, 2, 7, 3, "a", 4, "b", "сәлем"),
    ],
)
def test_round_trip(event: object) -> None:
    assert decode(encode(event)) == event  # type: ignore[arg-type]


def test_routing_keys_keep_one_author_or_follower_in_order() -> None:
    assert TweetPosted(1, 2, TWEET).topic == TWEETS_TOPIC
    assert TweetPosted(1, 2, TWEET).key == TWEET.author_id
    assert Followed(1, 2, 3, 4).topic == GRAPH_TOPIC and Followed(1, 2, 3, 4).key == 3


def test_envelope_is_versioned() -> None:
    env = msgpack.unpackb(encode(Followed(1, 2, 3, 4)))
    assert env == {
        "v": 1,
        "type": "followed",
        "sv": 1,
        "id": 1,
        "ts": 2,
        "d": {"follower_id": 3, "followee_id": 4},
    }


@pytest.mark.parametrize(
    "blob",
    [
        b"\xc1",
        b"",
        msgpack.packb([1, 2]),
        msgpack.packb({"v": 0, "type": "followed", "sv": 1, "id": 1, "ts": 1, "d": {}}),
        msgpack.packb({"v": 1, "type": "followed", "sv": 0, "id": 1, "ts": 1, "d": {}}),
        msgpack.packb({"v": 1, "type": "followed", "sv": "2", "id": 1, "ts": 1, "d": {}}),
        msgpack.packb({"v": 1, "type": 7, "sv": 1, "id": 1, "ts": 1, "d": {}}),
        msgpack.packb({"v": 1, "type": "followed", "sv": 1, "id": 1, "ts": 1, "d": {"x": 1}}),
    ],
)
def test_undecodable_is_poison_not_too_new(blob: bytes) -> None:
    with pytest.raises(PoisonEvent) as caught:
        decode(blob)
    assert not isinstance(caught.value, EventTooNew)


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"v": 2, "type": "followed", "sv": 1}, "envelope v2 is newer than v1"),
        ({"v": 1, "type": "followed", "sv": 9}, "event 'followed' v9 is newer than v1"),
        ({"v": 1, "type": "tweet_edited", "sv": 1}, "unknown event type 'tweet_edited' v1"),
    ],
)
def test_a_newer_type_or_version_is_too_new(envelope: dict[str, object], reason: str) -> None:
    with pytest.raises(EventTooNew, match=reason):
        decode(msgpack.packb({**envelope, "id": 1, "ts": 1, "d": {}}))


def test_stored_tweet_round_trip() -> None:
    assert unpack_tweet(pack_tweet(TWEET)) == TWEET


def test_direct_messages_go_to_their_own_topic() -> None:
    assert DirectMessageSent(1, 2, 7, 3, "a", 4, "b", "x").topic == MESSAGES_TOPIC


def test_a_direct_message_survives_its_stored_form() -> None:
    message = DirectMessage(7, 1, "alice", 2, "bob", "Сәлем, ტვიტერი", 1_700_000_000_000)
    assert unpack_message(pack_message(message)) == message


def _posts(n: int) -> list[TweetPosted]:
    return [TweetPosted(100 + i, 200 + i, TWEET) for i in range(n)]


def test_a_pack_is_read_as_its_events_in_order_and_a_single_event_as_itself() -> None:
    posts = _posts(3)
    assert decode_all(encode_pack(posts)) == posts
    assert decode_all(encode(posts[0])) == [posts[0]]


def test_a_pack_where_one_event_is_expected_is_poison() -> None:
    with pytest.raises(PoisonEvent) as caught:
        decode(encode_pack(_posts(2)))
    assert not isinstance(caught.value, EventTooNew)


def _pack(**fields: object) -> bytes:
    inner = msgpack.unpackb(encode(_posts(1)[0]), raw=False)
    return bytes(msgpack.packb({"v": 1, "type": "pack", "sv": 1, "events": [inner], **fields}))


@pytest.mark.parametrize(
    "blob",
    [
        _pack(events=[]),
        _pack(events="x"),
        _pack(events=[[1, 2]]),
        _pack(sv=0),
        _pack(v=0),
        _pack(events=[{"v": 1, "type": "followed", "sv": 1, "id": 1, "ts": 1, "d": {}}]),
    ],
)
def test_a_malformed_pack_is_poison_whole(blob: bytes) -> None:
    with pytest.raises(PoisonEvent) as caught:
        decode_all(blob)
    assert not isinstance(caught.value, EventTooNew)


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (_pack(sv=2), "pack v2 is newer than v1"),
        (_pack(v=2), "envelope v2 is newer than v1"),
        (
            _pack(events=[{"v": 1, "type": "tweet_edited", "sv": 1, "id": 1, "ts": 1, "d": {}}]),
            "unknown event type 'tweet_edited' v1",
        ),
    ],
)
def test_a_newer_pack_or_an_event_in_it_too_new_is_too_new(blob: bytes, reason: str) -> None:
    with pytest.raises(EventTooNew, match=reason):
        decode_all(blob)


def _generic(value: dict[str, object]) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def _envelope_map(event: TweetPosted) -> dict[str, object]:
    d = {
        "id": event.tweet.id,
        "author_id": event.tweet.author_id,
        "author_handle": event.tweet.author_handle,
        "text": event.tweet.text,
        "created_ms": event.tweet.created_ms,
        "in_reply_to_id": event.tweet.in_reply_to_id,
        "hashtags": list(event.tweet.hashtags),
        "mentions": [[m.user_id, m.handle] for m in event.tweet.mentions],
        "urls": list(event.tweet.urls),
    }
    return {
        "v": 1,
        "type": event.type_name,
        "sv": 1,
        "id": event.event_id,
        "ts": event.ts_us,
        "d": d,
    }


def test_tweets_are_written_byte_for_byte_as_the_documented_maps() -> None:
    """Tweets, their envelopes and packs go through msgspec structs: the bytes are those of
    the documented msgpack maps, so readers of either kind read both."""
    posted, deleted = TweetPosted(1, 2, TWEET), TweetDeleted(3, 4, Tweet(12, 22, "a", "x", 5))
    assert encode(posted) == _generic(_envelope_map(posted))
    assert encode(deleted) == _generic(_envelope_map(deleted))
    pack = {"v": 1, "type": "pack", "sv": 1, "events": [_envelope_map(posted)] * 2}
    assert encode_pack([posted, posted]) == _generic(pack)
    assert pack_tweet(TWEET) == _generic(_envelope_map(posted)["d"])  # type: ignore[arg-type]


def test_a_tweet_map_the_structs_refuse_is_read_as_before() -> None:
    """A stored tweet without its optional keys reads with their defaults, a key this code
    does not know is passed over, and a tweet without its id is poison, as before."""
    short = {"id": 1, "author_id": 2, "author_handle": "a", "text": "t", "created_ms": 3}
    assert unpack_tweet(_generic(short)) == Tweet(1, 2, "a", "t", 3)
    newer = _envelope_map(TweetPosted(1, 2, TWEET))
    newer["d"] = {**newer["d"], "lang": "kk"}  # type: ignore[dict-item]
    assert decode(_generic(newer)) == TweetPosted(1, 2, TWEET)
    broken = _envelope_map(TweetPosted(1, 2, TWEET))
    broken["d"] = {"id": 1}
    with pytest.raises(PoisonEvent):
        decode_all(_generic(broken))
