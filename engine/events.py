"""Events of the log as frozen records (msgspec structs), encoded with msgpack under a
versioned envelope.

The envelope is a msgpack map ``{"v": 1, "type": str, "sv": int, "id": int, "ts": int,
"d": map}``: envelope version, event type, schema version of that type, event id
(Snowflake), event time in Unix microseconds, and the type's fields. schemas/events.json
documents every type and version.

A record may also hold a pack: ``{"v": 1, "type": "pack", "sv": 1, "events": [envelope
maps]}``, several events of one partition in log order (a batch of tweets appended as one
record: Kafka's per-record cost, on the producer, the broker and every consumer, is paid once
for all of them). decode_all() reads either; a reader of a version without packs stops at one
as at any event too new (EventTooNew), so consumers are upgraded before producers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeGuard, TypeVar

import msgpack
import msgspec

from engine.errors import EventTooNew, PoisonEvent
from engine.ids import EPOCH_MS
from engine.records import DirectMessage, Mention, Tweet

ENVELOPE_VERSION = 1
PACK_TYPE = "pack"
PACK_VERSION = 1
TWEETS_TOPIC = "tweets"
GRAPH_TOPIC = "graph"
MESSAGES_TOPIC = "messages"
DEAD_LETTER_TOPIC = "dead_letters"
ALL_TOPICS = (TWEETS_TOPIC, GRAPH_TOPIC, MESSAGES_TOPIC, DEAD_LETTER_TOPIC)


def dead_letter_value(
    topic: str, partition: int, offset: int, group: str, reason: str, value: bytes
) -> bytes:
    """What the dead-letter topic holds for a record a consumer group could not read, with the
    time it was set aside (Unix microseconds)."""
    return bytes(
        msgpack.packb(
            {
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "group": group,
                "reason": reason,
                "value": value,
                "ts": time.time_ns() // 1000,
            },
            use_bin_type=True,
        )
    )


class Event(msgspec.Struct, frozen=True):
    """Base of every event: its id and time, and where it goes in the log. Events are frozen
    msgspec structs (engine/records.py says why): every consumer group builds one per record."""

    event_id: int
    ts_us: int

    type_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = GRAPH_TOPIC
    key_field: ClassVar[str] = ""
    in_log: ClassVar[bool] = True  # False: what a projection reads of one, never appended

    @property
    def key(self) -> int:
        """The partition key: events with the same key stay in order."""
        return int(getattr(self, self.key_field))

    def fields(self) -> dict[str, Any]:
        """The type's own fields as msgpack-ready values."""
        return {
            f.name: _wire(getattr(self, f.name))
            for f in msgspec.structs.fields(self)
            if f.name not in ("event_id", "ts_us")
        }

    @classmethod
    def from_fields(cls, event_id: int, ts_us: int, data: dict[str, Any]) -> Event:
        """The inverse of fields()."""
        values = {
            f.name: _unwire(f.type, data[f.name])
            for f in msgspec.structs.fields(cls)
            if f.name not in ("event_id", "ts_us")
        }
        return cls(event_id=event_id, ts_us=ts_us, **values)


def _wire(value: Any) -> Any:
    if isinstance(value, Tweet):
        return tweet_to_wire(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _unwire(type_name: Any, value: Any) -> Any:
    if type_name in ("Tweet", Tweet):
        return tweet_from_wire(value)
    if isinstance(value, list):
        return tuple(value)
    return value


class UserRegistered(Event, frozen=True):
    """A user registered with a handle claimed at ingest."""

    user_id: int
    handle: str
    display_name: str

    type_name: ClassVar[str] = "user_registered"
    key_field: ClassVar[str] = "user_id"


class Followed(Event, frozen=True):
    """follower_id now follows followee_id."""

    follower_id: int
    followee_id: int

    type_name: ClassVar[str] = "followed"
    key_field: ClassVar[str] = "follower_id"


class Unfollowed(Followed, frozen=True):
    """follower_id no longer follows followee_id."""

    type_name: ClassVar[str] = "unfollowed"


class PhoneRegistered(Event, frozen=True):
    """A phone number (E.164) now belongs to a user, for the SMS gateway."""

    user_id: int
    phone: str

    type_name: ClassVar[str] = "phone_registered"
    key_field: ClassVar[str] = "user_id"


class ListCreated(Event, frozen=True):
    """A user created a list of authors."""

    list_id: int
    owner_id: int
    name: str

    type_name: ClassVar[str] = "list_created"
    key_field: ClassVar[str] = "owner_id"


class ListMemberAdded(Event, frozen=True):
    """An author joined a list."""

    list_id: int
    owner_id: int
    member_id: int

    type_name: ClassVar[str] = "list_member_added"
    key_field: ClassVar[str] = "owner_id"


class ListMemberRemoved(ListMemberAdded, frozen=True):
    """An author left a list."""

    type_name: ClassVar[str] = "list_member_removed"


class TweetPosted(Event, frozen=True):
    """A tweet, with its entities resolved at ingest."""

    tweet: Tweet

    type_name: ClassVar[str] = "tweet_posted"
    topic: ClassVar[str] = TWEETS_TOPIC

    @property
    def key(self) -> int:
        return self.tweet.author_id

    def fields(self) -> dict[str, Any]:
        return tweet_to_wire(self.tweet)

    @classmethod
    def from_fields(cls, event_id: int, ts_us: int, data: dict[str, Any]) -> Event:
        return cls(event_id=event_id, ts_us=ts_us, tweet=tweet_from_wire(data))


class TweetDeleted(TweetPosted, frozen=True):
    """A tweet was deleted; the event carries it whole so every projection can undo it."""

    type_name: ClassVar[str] = "tweet_deleted"


class DirectMessageSent(Event, frozen=True):
    """A private message; it lives on its own topic and in no public view."""

    message_id: int
    sender_id: int
    sender_handle: str
    recipient_id: int
    recipient_handle: str
    text: str

    type_name: ClassVar[str] = "direct_message_sent"
    topic: ClassVar[str] = MESSAGES_TOPIC
    key_field: ClassVar[str] = "sender_id"

    def message(self) -> DirectMessage:
        """The message this event sends."""
        return DirectMessage(
            self.message_id,
            self.sender_id,
            self.sender_handle,
            self.recipient_id,
            self.recipient_handle,
            self.text,
            (self.message_id >> 22) + EPOCH_MS,
        )


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


@functools.lru_cache(maxsize=8192)
def pack_tweet(tweet: Tweet) -> bytes:
    """A tweet as msgpack bytes, the form stored in timeline rows (cached: fan-out writes the
    same tweet into every follower's row): tweet_to_wire's map, written by msgspec."""
    return _WIRE.encode(tweet)


def unpack_tweet(blob: bytes) -> Tweet:
    """The inverse of pack_tweet (msgspec decodes the map straight into a Tweet; bytes it
    refuses are read as tweet_from_wire reads them, with its errors)."""
    try:
        return _TWEET.decode(blob)
    except msgspec.MsgspecError:
        return tweet_from_wire(msgpack.unpackb(blob, raw=False))


def pack_message(m: DirectMessage) -> bytes:
    """A direct message as msgpack bytes, the form stored in message rows: a list of its
    fields in declaration order."""
    fields = [m.id, m.sender_id, m.sender_handle, m.recipient_id, m.recipient_handle, m.text]
    return bytes(msgpack.packb([*fields, m.created_ms], use_bin_type=True))


def unpack_message(blob: bytes) -> DirectMessage:
    """The inverse of pack_message."""
    return DirectMessage(*msgpack.unpackb(blob, raw=False))


_TYPES: dict[tuple[str, int], type[Event]] = {
    (cls.type_name, cls.schema_version): cls
    for cls in (
        UserRegistered,
        Followed,
        Unfollowed,
        PhoneRegistered,
        ListCreated,
        ListMemberAdded,
        ListMemberRemoved,
        TweetPosted,
        TweetDeleted,
        DirectMessageSent,
    )
}


def _envelope(event: Event) -> dict[str, Any]:
    if not event.in_log:
        raise TypeError(f"{type(event).__name__} is read from the log, never appended")
    return {
        "v": ENVELOPE_VERSION,
        "type": event.type_name,
        "sv": event.schema_version,
        "id": event.event_id,
        "ts": event.ts_us,
        "d": event.fields(),
    }


# A tweet's envelope and a pack of them as msgspec structs: the same maps, with the same keys
# in the same order, as _envelope() writes with msgpack, encoded and decoded in C (a pack of
# posts decodes in ~1 us a tweet against ~7-14 us through dicts and dataclasses). Every
# other event, and anything these refuse, goes the generic way below.
D = TypeVar("D")


class _Envelope(msgspec.Struct, Generic[D]):
    """An event's envelope with its fields `d` of type D (a Tweet; or only what a projection
    reads of one, decode_posted_ids)."""

    v: int
    type: str
    sv: int
    id: int
    ts: int
    d: D


class _TweetPack(msgspec.Struct):
    v: int
    type: str
    sv: int
    events: list[_Envelope[Tweet]]


class _Record(msgspec.Struct, Generic[D]):
    """A record of the log as the fast paths read it: an event's envelope or a pack of them."""

    v: int
    type: str
    sv: int
    id: int | None = None
    ts: int | None = None
    d: D | None = None
    events: list[_Envelope[D]] | None = None


_WIRE = msgspec.msgpack.Encoder()
_TWEET = msgspec.msgpack.Decoder(Tweet)
_RECORD = msgspec.msgpack.Decoder(_Record[Tweet])


def _tweet_envelope(event: Event) -> _Envelope[Tweet] | None:
    if type(event) is TweetPosted or type(event) is TweetDeleted:
        return _Envelope(
            ENVELOPE_VERSION,
            event.type_name,
            event.schema_version,
            event.event_id,
            event.ts_us,
            event.tweet,
        )
    return None


def encode(event: Event) -> bytes:
    """The event as envelope bytes for the log."""
    fast = _tweet_envelope(event)
    if fast is not None:
        return _WIRE.encode(fast)
    return bytes(msgpack.packb(_envelope(event), use_bin_type=True))


def encode_pack(events: Sequence[Event]) -> bytes:
    """Several events (of one partition, in log order) as the bytes of one pack record."""
    fast = [_tweet_envelope(e) for e in events]
    if all(f is not None for f in fast):
        return _WIRE.encode(_TweetPack(ENVELOPE_VERSION, PACK_TYPE, PACK_VERSION, fast))  # type: ignore[arg-type]
    pack = {
        "v": ENVELOPE_VERSION,
        "type": PACK_TYPE,
        "sv": PACK_VERSION,
        "events": [_envelope(e) for e in events],
    }
    return bytes(msgpack.packb(pack, use_bin_type=True))


_FAST_TYPES: dict[str, type[TweetPosted]] = {c.type_name: c for c in (TweetPosted, TweetDeleted)}


def _fast_events(blob: bytes, packs: bool = True) -> list[Event] | None:
    """The events of a record holding tweets of the current versions only (a pack of them
    if `packs`), else None: the caller reads it the generic way, with its errors."""
    try:
        record = _RECORD.decode(blob)
    except msgspec.MsgspecError:
        return None
    if record.type != PACK_TYPE:
        if record.events is not None:
            return None
        event = _fast_event(record.v, record.type, record.sv, record.id, record.ts, record.d)
        return None if event is None else [event]
    if not packs or record.v != ENVELOPE_VERSION or record.sv != PACK_VERSION:
        return None
    events: list[Event] = []
    for e in record.events or ():
        event = _fast_event(e.v, e.type, e.sv, e.id, e.ts, e.d)
        if event is None:
            return None
        events.append(event)
    return events or None


def _fast_event(
    v: int, kind: str, sv: int, event_id: int | None, ts: int | None, tweet: Tweet | None
) -> Event | None:
    """A tweet's event of the current envelope and schema version, else None."""
    cls = _FAST_TYPES.get(kind)
    if cls is None or v != ENVELOPE_VERSION or sv != cls.schema_version:
        return None
    if event_id is None or ts is None or tweet is None:
        return None
    return cls(event_id, ts, tweet)


class PostedTweetId(Event, frozen=True):
    """What decode_posted_ids() reads of a TweetPosted: its ids, not its tweet. Never in the
    log; a projection that keeps nothing else of a post (the checks) reads these."""

    tweet_id: int

    type_name: ClassVar[str] = TweetPosted.type_name
    topic: ClassVar[str] = TWEETS_TOPIC
    in_log: ClassVar[bool] = False


class _TweetIdOnly(msgspec.Struct):
    id: int


_POSTED_IDS = msgspec.msgpack.Decoder(_Record[_TweetIdOnly])


def decode_posted_ids(blob: bytes) -> list[Event]:
    """decode_all(), with each TweetPosted of the current version read as its PostedTweetId
    only, the tweet skipped unread (a pack of posts in 0.5 us a post against 0.8-0.9): for
    a record that holds anything else, or that this cannot read, decode_all() answers, with
    its errors. A post whose tweet fields decode_all() would refuse is still read as its ids:
    ingest writes none (its tweets are built by the same structs)."""
    try:
        record = _POSTED_IDS.decode(blob)
    except msgspec.MsgspecError:
        return decode_all(blob)
    if record.v != ENVELOPE_VERSION:
        return decode_all(blob)
    if record.type == PACK_TYPE:
        if record.sv != PACK_VERSION or not record.events:
            return decode_all(blob)
        envelopes = record.events
        if not all(_posted_of_now(e.v, e.type, e.sv) for e in envelopes):
            return decode_all(blob)
        return [PostedTweetId(e.id, e.ts, e.d.id) for e in envelopes]
    if (
        _posted_of_now(record.v, record.type, record.sv)
        and record.events is None
        and record.id is not None
        and record.ts is not None
        and record.d is not None
    ):
        return [PostedTweetId(record.id, record.ts, record.d.id)]
    return decode_all(blob)


def _posted_of_now(v: int, kind: str, sv: int) -> bool:
    return (
        v == ENVELOPE_VERSION and kind == TweetPosted.type_name and sv == TweetPosted.schema_version
    )


def decode(blob: bytes) -> Event:
    """The event in envelope bytes; EventTooNew when it is of a type or version newer than
    this code reads, PoisonEvent when the bytes cannot be read at all, or hold a pack (a
    record of the log is read with decode_all)."""
    fast = _fast_events(blob, packs=False)
    if fast is not None:
        return fast[0]
    try:
        envelope = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        if isinstance(envelope, dict) and envelope.get("type") == PACK_TYPE:
            raise PoisonEvent("a pack of events where one event was expected")
        return _from_envelope(envelope)
    except (PoisonEvent, EventTooNew):
        raise
    except Exception as e:  # any malformed bytes or shape
        raise PoisonEvent(f"undecodable event: {e!r}") from e


def decode_all(blob: bytes) -> list[Event]:
    """The events in a record of the log: its one event, or every event of a pack in order.
    EventTooNew and PoisonEvent as decode(); a pack is read whole or not at all."""
    fast = _fast_events(blob)
    if fast is not None:
        return fast
    try:
        envelope = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        if isinstance(envelope, dict) and envelope.get("type") == PACK_TYPE:
            _check_pack(envelope)
            inner = envelope["events"]
            if not isinstance(inner, list) or not inner:
                raise PoisonEvent("a pack without events")
            return [_from_envelope(e) for e in inner]
        return [_from_envelope(envelope)]
    except (PoisonEvent, EventTooNew):
        raise
    except Exception as e:  # any malformed bytes or shape
        raise PoisonEvent(f"undecodable event: {e!r}") from e


def _check_pack(envelope: dict[Any, Any]) -> None:
    v, version = envelope.get("v"), envelope.get("sv")
    if not _is_version(v) or not _is_version(version):
        raise PoisonEvent(f"malformed pack: v={v!r} sv={version!r}")
    if v > ENVELOPE_VERSION:
        raise EventTooNew(f"envelope v{v} is newer than v{ENVELOPE_VERSION}")
    if v < ENVELOPE_VERSION:
        raise PoisonEvent(f"unknown envelope version {v!r}")
    if version > PACK_VERSION:
        raise EventTooNew(f"pack v{version} is newer than v{PACK_VERSION}")


def _from_envelope(envelope: Any) -> Event:
    if not isinstance(envelope, dict):
        raise PoisonEvent(f"an envelope must be a map, not {type(envelope).__name__}")
    kind, version = envelope["type"], envelope["sv"]
    _check_versions(envelope["v"], kind, version)
    cls = _TYPES.get((kind, version))
    if cls is None:
        raise PoisonEvent(f"unknown event {kind!r} v{version!r}")
    return cls.from_fields(envelope["id"], envelope["ts"], envelope["d"])


def _check_versions(envelope: object, kind: object, version: object) -> None:
    """EventTooNew for an envelope, a type or a schema version newer than this code knows;
    PoisonEvent for versions that are not versions at all."""
    if not _is_version(envelope) or not isinstance(kind, str) or not _is_version(version):
        raise PoisonEvent(f"malformed envelope: v={envelope!r} type={kind!r} sv={version!r}")
    if envelope > ENVELOPE_VERSION:
        raise EventTooNew(f"envelope v{envelope} is newer than v{ENVELOPE_VERSION}")
    if envelope < ENVELOPE_VERSION:
        raise PoisonEvent(f"unknown envelope version {envelope!r}")
    if (kind, version) in _TYPES:
        return
    known = [v for k, v in _TYPES if k == kind]
    if not known:
        raise EventTooNew(f"unknown event type {kind!r} v{version}")
    if version > max(known):
        raise EventTooNew(f"event {kind!r} v{version} is newer than v{max(known)}")


def _is_version(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
