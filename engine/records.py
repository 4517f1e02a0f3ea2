"""The rows the engine stores and serves: frozen records, never dicts.

A tweet and its mentions are msgspec structs rather than dataclasses: every post builds
one, and every consumer group of every process decodes one per tweet of the log, so their
cost is paid many times a tweet. A frozen struct is built in ~0.2 us (a frozen dataclass
with these nine fields: ~2-3 us) and msgspec decodes the log's msgpack straight into it
(engine/events.py). Both stay immutable and hashable, with the same fields and equality."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from engine.ids import MAX_ID


class Mention(msgspec.Struct, frozen=True, array_like=True):
    """A mentioned user, resolved to an id at ingest (on the wire: [user_id, handle])."""

    user_id: int
    handle: str


class Tweet(msgspec.Struct, frozen=True):
    """A tweet as posted; text is NFC and entities were extracted from it (on the wire: a map
    of these fields, engine/events.py)."""

    id: int
    author_id: int
    author_handle: str
    text: str
    created_ms: int
    in_reply_to_id: int | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[Mention, ...] = ()
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    """A registered user with the counts of the follow graph."""

    id: int
    handle: str
    display_name: str
    created_ms: int
    followers_count: int = 0
    following_count: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a timeline: ids newest first, and the cursor for the next page."""

    items: tuple[Tweet, ...] = field(default_factory=tuple)
    next_max_id: int | None = None


class PageQuery(msgspec.Struct, frozen=True):
    """Twitter's cursor: count items with since_id < id <= max_id, newest first (a struct:
    a page builds two or three)."""

    count: int = 20
    max_id: int | None = None
    since_id: int | None = None

    @property
    def upper(self) -> int:
        """The highest id the page may hold (max_id, inclusive; the highest id when open)."""
        return upper_bound(self.max_id)

    @property
    def lower(self) -> int:
        """The id every item of the page is above (since_id, exclusive; -1 when open)."""
        return -1 if self.since_id is None else self.since_id

    @property
    def bounds(self) -> tuple[int, int]:
        """(upper, lower): the store range lower < id <= upper, in the order queries take it."""
        return self.upper, self.lower

    @property
    def probe_size(self) -> int:
        """How many items to read to know whether a next page exists: one more than asked."""
        return self.count + 1

    def probe(self) -> PageQuery:
        """This query for probe_size items."""
        return PageQuery(self.probe_size, self.max_id, self.since_id)


def upper_bound(max_id: int | None) -> int:
    """A max_id cursor as an inclusive store bound: the highest id when there is none."""
    return MAX_ID if max_id is None else max_id


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A private message between two users."""

    id: int
    sender_id: int
    sender_handle: str
    recipient_id: int
    recipient_handle: str
    text: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class UserList:
    """A named list of authors, owned by a user (Twitter, 2009)."""

    id: int
    owner_id: int
    name: str
    created_ms: int
