"""A batch's consistency token: the highest offset of every partition its events reached,
each record's position noted once however many events it carries (a pack)."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from engine.consistency import encode_token, parse_token
from engine.errors import LogUnavailable
from engine.events import Event, TweetPosted
from engine.ports import Backend, LogPosition
from engine.records import Tweet
from ingest.operations import Writer
from ingest.tokens import collecting

pytestmark = pytest.mark.unit


class PackLog:
    """Answers an append as the Kafka log does for packs: the events of one record share
    that record's position object; `answers` says which position each event gets."""

    def __init__(self, answers: list[LogPosition | BaseException]) -> None:
        self.answers = answers

    async def append_many(self, events: Sequence[Event]) -> list[Any]:
        assert len(events) == len(self.answers)
        return list(self.answers)


def _post(n: int) -> TweetPosted:
    return TweetPosted(n, n, Tweet(n, 1, "a", "t", 0))


async def test_each_record_is_noted_once_and_the_token_keeps_the_highest_offsets() -> None:
    first, second, third = (
        LogPosition("tweets", 0, 7),
        LogPosition("tweets", 1, 3),
        LogPosition("tweets", 0, 9),
    )
    answers: list[LogPosition | BaseException] = [first] * 3 + [second] * 2 + [third]
    answers.insert(4, LogUnavailable("not acknowledged"))
    backend = cast(Backend, SimpleNamespace(log=PackLog(answers)))
    writer = Writer(backend, cast(Any, None), cast(Any, None), cast(Any, None))
    events = [_post(n) for n in range(len(answers))]
    with collecting() as written:
        outcomes = await writer.append_many(events)
    assert outcomes == answers
    assert sorted(written, key=lambda p: (p.partition, p.offset)) == [first, third, second]
    token = encode_token(written)
    assert token == "tweets:0:9,tweets:1:3"
    assert parse_token(token) == {("tweets", 0): 9, ("tweets", 1): 3}


async def test_a_batch_nothing_of_which_was_acknowledged_notes_nothing() -> None:
    answers: list[LogPosition | BaseException] = [LogUnavailable("down")] * 3
    backend = cast(Backend, SimpleNamespace(log=PackLog(answers)))
    writer = Writer(backend, cast(Any, None), cast(Any, None), cast(Any, None))
    with collecting() as written:
        await writer.append_many([_post(n) for n in range(3)])
    assert written == []
    assert encode_token(written) == ""
