"""Events of the log as frozen records, encoded with msgpack under a versioned envelope.

The envelope is a msgpack map ``{"v": 1, "type": str, "sv": int, "id": int, "ts": int,
"d": map}``: envelope version, event type, schema version of that type, event id
(Snowflake), event time in Unix microseconds, and the type's fields. schemas/events.json
documents every type and version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack

from engine.errors import PoisonEvent
from engine.records import Mention, Tweet

ENVELOPE_VERSION = 1
TWEETS_TOPIC = "tweets"
GRAPH_TOPIC = "graph"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: its id and time, and where it goes in the log."""

    event_id: int
    ts_us: int

    type_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = GRAPH_TOPIC

    @property
    def key(self) -> int:
        """The partition key: events with the same key stay in order."""
        raise NotImplementedError

    def fields(self) -> dict[str, Any]:
        """The type's own fields as msgpack-ready values."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class UserRegistered(Event):
    user_id: int
    handle: str
    display_name: str

    type_name: ClassVar[str] = "user_registered"

    @property
    def key(self) -> int:
        return self.user_id

    def fields(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "handle": self.handle, "display_name": self.display_name}


@dataclass(frozen=True, slots=True)
class Followed(Event):
    follower_id: int
    followee_id: int

    type_name: ClassVar[str] = "followed"

    @property
    def key(self) -> int:
        return self.follower_id

    def fields(self) -> dict[str, Any]:
        return {"follower_id": self.follower_id, "followee_id": self.followee_id}


@dataclass(frozen=True, slots=True)
class Unfollowed(Followed):
    type_name: ClassVar[str] = "unfollowed"


@dataclass(frozen=True, slots=True)
class TweetPosted(Event):
    tweet: Tweet

    type_name: ClassVar[str] = "tweet_posted"
    topic: ClassVar[str] = TWEETS_TOPIC

    @property
    def key(self) -> int:
        return self.tweet.author_id

    def fields(self) -> dict[str, Any]:
        return tweet_to_wire(self.tweet)


@dataclass(frozen=True, slots=True)
class TweetDeleted(Event):
    tweet_id: int
    author_id: int

    type_name: ClassVar[str] = "tweet_deleted"
    topic: ClassVar[str] = TWEETS_TOPIC

    @property
    def key(self) -> int:
        return self.author_id

    def fields(self) -> dict[str, Any]:
        return {"tweet_id": self.tweet_id, "author_id": self.author_id}


def tweet_to_wire(tweet: Tweet) -> dict[str, Any]:
    """A tweet as a msgpack-ready map (also the stored form of timeline rows)."""
    return {
        "id": tweet.id,
        "author_id": tweet.author_id,
        "author_handle": tweet.author_handle,
        "text": tweet.text,
        "created_ms": tweet.created_ms,
        "in_reply_to_id": tweet.in_reply_to_id,
        "hashtags": list(tweet.hashtags),
        "mentions": [[m.user_id, m.handle] for m in tweet.mentions],
        "urls": list(tweet.urls),
    }


def tweet_from_wire(data: dict[str, Any]) -> Tweet:
    """The inverse of tweet_to_wire."""
    return Tweet(
        id=data["id"],
        author_id=data["author_id"],
        author_handle=data["author_handle"],
        text=data["text"],
        created_ms=data["created_ms"],
        in_reply_to_id=data.get("in_reply_to_id"),
        hashtags=tuple(data.get("hashtags", ())),
        mentions=tuple(Mention(uid, handle) for uid, handle in data.get("mentions", ())),
        urls=tuple(data.get("urls", ())),
    )


def pack_tweet(tweet: Tweet) -> bytes:
    """A tweet as msgpack bytes, the form stored in timeline rows."""
    return bytes(msgpack.packb(tweet_to_wire(tweet), use_bin_type=True))


def unpack_tweet(blob: bytes) -> Tweet:
    """The inverse of pack_tweet."""
    return tweet_from_wire(msgpack.unpackb(blob, raw=False))


def _decode_fields(cls: type[Event], d: dict[str, Any]) -> dict[str, Any]:
    if cls is TweetPosted:
        return {"tweet": tweet_from_wire(d)}
    return d


_TYPES: dict[tuple[str, int], type[Event]] = {
    (cls.type_name, cls.schema_version): cls
    for cls in (UserRegistered, Followed, Unfollowed, TweetPosted, TweetDeleted)
}


def encode(event: Event) -> bytes:
    """The event as envelope bytes for the log."""
    envelope = {
        "v": ENVELOPE_VERSION,
        "type": event.type_name,
        "sv": event.schema_version,
        "id": event.event_id,
        "ts": event.ts_us,
        "d": event.fields(),
    }
    return bytes(msgpack.packb(envelope, use_bin_type=True))


def decode(blob: bytes) -> Event:
    """The event in envelope bytes; PoisonEvent when they cannot be read."""
    try:
        envelope = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        if envelope["v"] != ENVELOPE_VERSION:
            raise PoisonEvent(f"unknown envelope version {envelope['v']!r}")
        cls = _TYPES.get((envelope["type"], envelope["sv"]))
        if cls is None:
            raise PoisonEvent(f"unknown event {envelope['type']!r} v{envelope['sv']!r}")
        fields = _decode_fields(cls, envelope["d"])
        return cls(event_id=envelope["id"], ts_us=envelope["ts"], **fields)
    except PoisonEvent:
        raise
    except Exception as e:  # any malformed bytes or shape
        raise PoisonEvent(f"undecodable event: {e!r}") from e
