"""Turning request bodies into events, or InvalidInput; nothing here writes."""

from __future__ import annotations

import time

import msgspec

from engine.errors import InvalidInput
from engine.ids import IdGenerator, id_ms
from engine.invisible import has_visible
from engine.records import Mention, Tweet, User
from engine.text import (
    direct_message_command,
    extract_entities,
    is_valid_handle,
    normalize_name_text,
)

MAX_DISPLAY_NAME = 50


def now_us() -> int:
    """Wall-clock Unix microseconds: the time stamped on an event."""
    return time.time_ns() // 1000


def new_user(data: dict[str, object], ids: IdGenerator) -> User:
    """A user from a registration body."""
    handle = data.get("handle")
    if not is_valid_handle(handle):
        raise InvalidInput("handle must be 1-15 of A-Z a-z 0-9 _", code="invalid_handle")
    assert isinstance(handle, str)
    name = normalize_name(data.get("display_name", handle), "display_name", MAX_DISPLAY_NAME)
    user_id = ids.next_id()
    return User(user_id, handle, name, id_ms(user_id))


def normalize_name(name: object, field: str, limit: int) -> str:
    """A name (display name, list name): 1..limit characters, the rules of names' text."""
    try:
        text = normalize_name_text(name)
    except InvalidInput as e:
        raise InvalidInput(f"{field}: {e.message}", code=f"invalid_{field}") from e
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", code=f"invalid_{field}")
    return text


class TweetDraft(msgspec.Struct, frozen=True):
    """A validated tweet request before its mentions are resolved."""

    author_id: int
    text: str
    in_reply_to_id: int | None
    hashtags: tuple[str, ...]
    mention_handles: tuple[str, ...]
    urls: tuple[str, ...]


class DirectMessageParts(msgspec.Struct, frozen=True):
    """A post that is a direct-message command: its sender, the handle it names, the text."""

    sender_id: int
    handle: str
    text: str


def tweet_draft(author_id: int, text: str, in_reply_to_id: int | None) -> TweetDraft:
    """A tweet's entities extracted from its text, already checked by normalize_text."""
    entities = extract_entities(text)
    return TweetDraft(
        author_id, text, in_reply_to_id, entities.hashtags, entities.mentions, entities.urls
    )


def direct_message_parts(text: str) -> tuple[str, str] | None:
    """(handle, message) for a direct-message command (`d <handle> <message>`, see
    engine/text.py), else None; InvalidInput `invalid_direct_message` for a command that
    cannot be sent (no handle can be that word, or there is no message): never a tweet."""
    command = direct_message_command(text)
    if command is None:
        return None
    handle, message = command
    if not is_valid_handle(handle):
        raise InvalidInput(
            f"'d {handle}' is a direct message, but no user can have that handle",
            code="invalid_direct_message",
        )
    if not has_visible(message):
        raise InvalidInput(
            f"'d {handle}' is a direct message with nothing to send", code="invalid_direct_message"
        )
    return handle, message


def finish_tweet(
    draft: TweetDraft, tweet_id: int, author: User, mentions: tuple[Mention, ...]
) -> Tweet:
    """The tweet record, once it has an id and its mentions are resolved."""
    return Tweet(
        id=tweet_id,
        author_id=author.id,
        author_handle=author.handle,
        text=draft.text,
        created_ms=id_ms(tweet_id),
        in_reply_to_id=draft.in_reply_to_id,
        hashtags=draft.hashtags,
        mentions=mentions,
        urls=draft.urls,
    )
