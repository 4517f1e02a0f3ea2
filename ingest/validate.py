"""Turning request bodies into events, or InvalidInput; nothing here writes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidInput
from engine.ids import IdGenerator, id_ms
from engine.records import Mention, Tweet, User
from engine.text import extract_entities, is_valid_handle, normalize_text

MAX_DISPLAY_NAME = 50


def now_us() -> int:
    """Wall-clock Unix microseconds: the time stamped on an event."""
    return time.time_ns() // 1000


def new_user(data: dict[str, Any], ids: IdGenerator) -> User:
    """A user from a registration body."""
    handle = data.get("handle")
    if not is_valid_handle(handle):
        raise InvalidInput("handle must be 1-15 of A-Z a-z 0-9 _", code="invalid_handle")
    assert isinstance(handle, str)
    name = data.get("display_name", handle)
    if not isinstance(name, str):
        raise InvalidInput("display_name must be a string", code="invalid_display_name")
    name = normalize_display_name(name)
    user_id = ids.next_id()
    return User(user_id, handle, name, id_ms(user_id))


def normalize_display_name(name: str) -> str:
    """A display name: 1-50 characters, the same control-character rules as tweets."""
    try:
        text = normalize_text(name)
    except InvalidInput as e:
        raise InvalidInput(f"display_name: {e.message}", code="invalid_display_name") from e
    if len(text) > MAX_DISPLAY_NAME:
        raise InvalidInput(
            f"display_name is longer than {MAX_DISPLAY_NAME} characters",
            code="invalid_display_name",
        )
    return text


@dataclass(frozen=True, slots=True)
class TweetDraft:
    """A validated tweet request before its mentions are resolved."""

    author_id: int
    text: str
    in_reply_to_id: int | None
    hashtags: tuple[str, ...]
    mention_handles: tuple[str, ...]
    urls: tuple[str, ...]


def tweet_draft(author_id: int, text: object, in_reply_to_id: int | None) -> TweetDraft:
    """Check a tweet's text and extract its entities."""
    normalized = normalize_text(text)
    if is_direct_message_form(normalized):
        raise InvalidInput(
            "texts of the form 'd <handle> <message>' are direct messages, "
            "which this server does not accept yet",
            code="direct_messages_unsupported",
        )
    entities = extract_entities(normalized)
    return TweetDraft(
        author_id, normalized, in_reply_to_id, entities.hashtags, entities.mentions, entities.urls
    )


def is_direct_message_form(text: str) -> bool:
    """True for the seeds' `d <handle> <message>` form."""
    parts = text.split(maxsplit=2)
    return len(parts) == 3 and parts[0].lower() == "d" and is_valid_handle(parts[1])


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
