"""The log positions of the events a request appended, for its answer's consistency token."""

from __future__ import annotations

from contextvars import ContextVar, Token

from engine.ports import LogPosition

_written: ContextVar[list[LogPosition] | None] = ContextVar("written", default=None)


def note(position: LogPosition) -> None:
    """Remember an appended event's position for the request being answered, if any."""
    written = _written.get()
    if written is not None:
        written.append(position)


class collecting:  # named as the function it replaced: `with collecting() as written`
    """The positions noted while the block runs (tasks it starts share the list). A class
    rather than a generator-based context manager: it runs once per request."""

    __slots__ = ("_reset", "written")

    def __init__(self) -> None:
        self.written: list[LogPosition] = []
        self._reset: Token[list[LogPosition] | None] | None = None

    def __enter__(self) -> list[LogPosition]:
        self._reset = _written.set(self.written)
        return self.written

    def __exit__(self, *exc: object) -> None:
        assert self._reset is not None
        _written.reset(self._reset)
