"""The log positions of the events a request appended, for its answer's consistency token."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from engine.ports import LogPosition

_written: ContextVar[list[LogPosition] | None] = ContextVar("written", default=None)


def note(position: LogPosition) -> None:
    """Remember an appended event's position for the request being answered, if any."""
    written = _written.get()
    if written is not None:
        written.append(position)


@contextlib.contextmanager
def collecting() -> Iterator[list[LogPosition]]:
    """The positions noted while the block runs (tasks it starts share the list)."""
    written: list[LogPosition] = []
    reset = _written.set(written)
    try:
        yield written
    finally:
        _written.reset(reset)
