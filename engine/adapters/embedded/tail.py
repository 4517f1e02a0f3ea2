"""A group-less reader of the embedded log, and the committed offsets of its groups.

Appends made in this process wake a waiting poll at once; appends made by another process
on the same data folder (a `timeline readers` beside a `timeline ingest`) are found by
reading the log again every CROSS_PROCESS_POLL_S, so the tail never depends on a hook into
the process that wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.log import (
    EmbeddedLog,
    PositionedReader,
    committed_offsets,
    end_offset,
)
from engine.errors import LogUnavailable
from engine.ports import LogTail

CROSS_PROCESS_POLL_S = 0.025
Positions = dict[tuple[str, int], int]


class EmbeddedTail(PositionedReader, LogTail):
    """Reads every partition of the topics from their end; no group, no commits."""

    read_op = "tail"
    wait_cap_s = CROSS_PROCESS_POLL_S

    def __init__(self, log: EmbeddedLog, topics: Sequence[str]) -> None:
        self.log = log
        self.topics = tuple(topics)
        self._positions: Positions | None = None

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

    async def end_offsets(self) -> Positions:
        self._require()
        assigned = self.log.assignment(self.topics)
        return await self.log.db.read(
            "tail_end", lambda c: {tp: end_offset(c, *tp) for tp in assigned}
        )

    async def committed(self, group: str) -> Positions:
        self._require()
        rows = await self.log.db.read("tail_committed", lambda c: committed_offsets(c, group))
        return {tp: offset for tp, offset in rows.items() if tp[0] in self.topics}
