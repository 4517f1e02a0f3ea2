"""Single posts made in one turn of the event loop reach the log in one append
(ingest/together.py), and each caller still gets its own event's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from engine.errors import LogUnavailable
from engine.events import Event, TweetPosted
from engine.ports import EventLog, LogPosition
from engine.records import Tweet
from ingest.together import TurnAppends

pytestmark = pytest.mark.unit


class RecordingLog:
    """The log's two append calls, recorded; an event whose id is in `refuse` fails."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.refuse = refuse

    def _outcome(self, event: Event) -> LogPosition | BaseException:
        if event.event_id in self.refuse:
            return LogUnavailable("refused")
        return LogPosition("tweets", 0, event.event_id * 10)

    async def append(self, event: Event) -> LogPosition:
        self.calls.append(("append", [event.event_id]))
        outcome = self._outcome(event)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def append_many(self, events: Sequence[Event]) -> list[Any]:
        await asyncio.sleep(0)
        self.calls.append(("append_many", [e.event_id for e in events]))
        return [self._outcome(e) for e in events]


def _post(n: int) -> TweetPosted:
    return TweetPosted(n, n, Tweet(n, 1, "a", "t", 0))


async def test_posts_of_one_turn_go_in_one_append_and_each_gets_its_position() -> None:
    log = RecordingLog()
    appends = TurnAppends(cast(EventLog, log))
    positions = await asyncio.gather(*(appends.append(_post(n)) for n in (1, 2, 3)))
    assert log.calls == [("append_many", [1, 2, 3])]
    assert [p.offset for p in positions] == [10, 20, 30]
    assert await appends.append(_post(4)) == LogPosition("tweets", 0, 40)
    assert log.calls[-1] == ("append", [4])  # alone in its turn: the single append


async def test_a_refused_event_fails_its_own_caller_only() -> None:
    log = RecordingLog(refuse=frozenset({2}))
    appends = TurnAppends(cast(EventLog, log))
    outcomes = await asyncio.gather(
        *(appends.append(_post(n)) for n in (1, 2, 3)), return_exceptions=True
    )
    assert isinstance(outcomes[1], LogUnavailable)
    assert [o.offset for o in (outcomes[0], outcomes[2])] == [10, 30]  # type: ignore[union-attr]
    with pytest.raises(LogUnavailable):  # alone: the single append's error
        await appends.append(_post(2))


async def test_a_caller_that_goes_away_leaves_the_others_and_its_event_goes() -> None:
    log = RecordingLog()
    appends = TurnAppends(cast(EventLog, log))
    gone = asyncio.ensure_future(appends.append(_post(1)))
    stays = asyncio.ensure_future(appends.append(_post(2)))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await stays).offset == 20
    assert log.calls == [("append_many", [1, 2])]
