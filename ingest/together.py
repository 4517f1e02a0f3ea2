"""Single posts appended in one turn of the event loop go to the log together."""

from __future__ import annotations

import asyncio

from engine.events import Event
from engine.ports import EventLog, LogPosition


class TurnAppends:
    """append(event) joins the other events appended in the same turn of the event loop; at
    the end of the turn the group goes to the log in one append_many (on Kafka, posts bound
    for one partition then travel as one pack record, engine/events.py: the producer, the
    broker and every consumer group pay a record's cost once for all of them) and each
    caller gets its own event's outcome, as from the log's own append. A group of one goes
    with the log's single append.

    Under load a turn serves several requests, so single posts share records as a batch's
    do; a lone post waits for nothing but the end of the turn it was made in."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._waiting: list[tuple[Event, asyncio.Future[LogPosition]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def append(self, event: Event) -> LogPosition:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        answer: asyncio.Future[LogPosition] = loop.create_future()
        self._waiting.append((event, answer))
        return await answer  # a caller cancelled meanwhile leaves its event in the group

    def _send_waiting(self) -> None:
        group, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[tuple[Event, asyncio.Future[LogPosition]]]) -> None:
        outcomes: list[LogPosition | BaseException]
        try:
            if len(group) == 1:
                outcomes = [await self.log.append(group[0][0])]
            else:
                outcomes = await self.log.append_many([event for event, _ in group])
        except asyncio.CancelledError:
            for _, answer in group:
                answer.cancel()
            raise
        except Exception as e:  # the single append's error (append_many answers each)
            outcomes = [e]
        for (_, answer), outcome in zip(group, outcomes, strict=True):
            if answer.done():
                continue
            if isinstance(outcome, BaseException):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
