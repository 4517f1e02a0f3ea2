"""The rows the engine stores and serves: frozen records, never dicts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Mention:
    """A mentioned user, resolved to an id at ingest."""

    user_id: int
    handle: str


@dataclass(frozen=True, slots=True)
class Tweet:
    """A tweet as posted; text is NFC and entities were extracted from it."""

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


@dataclass(frozen=True, slots=True)
class PageQuery:
    """Twitter's cursor: count items with since_id < id <= max_id, newest first."""

    count: int = 20
    max_id: int | None = None
    since_id: int | None = None


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
