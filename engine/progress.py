"""How far consumer groups have applied the log, for a request that must see a write.

One group-less tail (LogTail) per process, opened on first use and kept, answers where the
log ends and what a group has committed; a group commits only after its writes, so a
committed offset past an event means its projection holds it. Only requests that must wait
ask: a follow-up check whose answer is negative, or a read that presents a consistency token.
Concurrent waits on one group share each committed-offset request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from engine.errors import Unavailable
from engine.events import GRAPH_TOPIC, MESSAGES_TOPIC, TWEETS_TOPIC
from engine.ports import Backend, LogTail

TopicPartition = tuple[str, int]
Positions = dict[TopicPartition, int]
TOPICS = (TWEETS_TOPIC, GRAPH_TOPIC, MESSAGES_TOPIC)
FIRST_STEP_S = 0.005
MAX_STEP_S = 0.05
LAGGING = "projection_lagging"


class LogProgress:
    """The end of the log and groups' committed offsets, from one long-lived tail."""

    def __init__(self, backend: Backend, topics: Sequence[str] = TOPICS) -> None:
        self.backend = backend
        self.topics = tuple(topics)
        self._tail: LogTail | None = None
        self._lock = asyncio.Lock()
        self._asking: dict[str, asyncio.Future[Positions]] = {}

    async def _opened(self) -> LogTail:
        if self._tail is not None:
            return self._tail
        async with self._lock:
            if self._tail is None:
                tail = self.backend.tail(self.topics)
                await tail.start()
                self._tail = tail
            return self._tail

    async def stop(self) -> None:
        """Close the tail; calling it twice is fine."""
        tail, self._tail = self._tail, None
        if tail is not None:
            await tail.stop()

    async def ends(self, topic: str) -> Positions:
        """The offset after the last record of every partition of a topic, asked now."""
        ends = await self._ask(lambda tail: tail.end_offsets())
        return {tp: end for tp, end in ends.items() if tp[0] == topic}

    async def committed(self, group: str) -> Positions:
        """What a group has committed; callers waiting at the same time share one request."""
        asking = self._asking.get(group)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(lambda tail: tail.committed(group)))
            self._asking[group] = asking
            asking.add_done_callback(lambda _: self._asking.pop(group, None))
        return await asyncio.shield(asking)

    async def _ask(self, question: Callable[[LogTail], Awaitable[Positions]]) -> Positions:
        tail = await self._opened()
        try:
            return await question(tail)
        except Unavailable:
            await self.stop()  # a fresh tail next time
            raise

    async def wait_applied(self, groups: Mapping[str, Positions], timeout_s: float) -> None:
        """Return once each group has committed every (topic, partition) up to its offset;
        Unavailable (`projection_lagging`) after timeout_s."""
        deadline = time.monotonic() + timeout_s
        step = FIRST_STEP_S
        pending = {g: {tp: o for tp, o in want.items() if o > 0} for g, want in groups.items()}
        while True:
            pending = {g: want for g, want in pending.items() if want}
            if not pending:
                return
            answers = await asyncio.gather(*(self.committed(g) for g in pending))
            pending = {
                group: {tp: o for tp, o in want.items() if committed.get(tp, 0) < o}
                for (group, want), committed in zip(pending.items(), answers, strict=True)
            }
            remaining = deadline - time.monotonic()
            if remaining <= 0 and any(pending.values()):
                lagging = ", ".join(sorted(g for g, want in pending.items() if want))
                raise Unavailable(f"{lagging} has not applied the log that far yet", code=LAGGING)
            if any(pending.values()):
                await asyncio.sleep(min(step, remaining))
                step = min(MAX_STEP_S, step * 2)
