"""A group-less reader of the embedded log, and the committed offsets of its groups.

Appends made in this process wake a waiting poll at once; appends made by another process
on the same data folder (a `timeline readers` beside a `timeline ingest`) are found by
reading the log again every CROSS_PROCESS_POLL_S, so the tail never depends on a hook into
the process that wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from engine.adapters.embedded_log import EmbeddedLog, _committed, _end, _fetch
from engine.errors import LogUnavailable
from engine.ports import LogRecord, LogTail

CROSS_PROCESS_POLL_S = 0.025
Positions = dict[tuple[str, int], int]


class EmbeddedTail(LogTail):
    """Reads every partition of the topics from their end; no group, no commits."""

    def __init__(self, log: EmbeddedLog, topics: Sequence[str]) -> None:
        self.log = log
        self.topics = tuple(topics)
        self._positions: Positions | None = None
        self._turn = 0

    async def start(self) -> None:
        if self._positions is None:
            self._positions = {}  # so end_offsets() may run
            self._positions = await self.end_offsets()

    async def stop(self) -> None:
        self._positions = None

    def _require(self) -> Positions:
        if self._positions is None:
            raise LogUnavailable("the log tail is not started")
        return self._positions

    async def seek(self, positions: Positions) -> None:
        self._require().update(positions)

    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            appended = self.log.appended()
            records = await self._fetch(max_records)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, CROSS_PROCESS_POLL_S)):
                    await appended.wait()

    async def _fetch(self, max_records: int) -> list[LogRecord]:
        positions = list(self._require().items())
        if not positions:
            return []
        self._turn = (self._turn + 1) % len(positions)
        order = positions[self._turn :] + positions[: self._turn]  # no partition starves
        records = await self.log.db.read("tail", lambda c: _fetch(c, order, max_records))
        current = self._require()
        for r in records:
            current[(r.topic, r.partition)] = r.offset + 1
        return records

    async def end_offsets(self) -> Positions:
        self._require()
        assigned = self.log.assignment(self.topics)
        return await self.log.db.read("tail_end", lambda c: {tp: _end(c, *tp) for tp in assigned})

    async def committed(self, group: str) -> Positions:
        self._require()
        rows = await self.log.db.read("tail_committed", lambda c: _committed(c, group))
        return {tp: offset for tp, offset in rows.items() if tp[0] in self.topics}
