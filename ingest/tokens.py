"""The log positions of the events a request appended, for its answer's consistency token."""

from __future__ import annotations

from engine.collect import Gathering, RequestNotes
from engine.ports import LogPosition

WRITTEN: RequestNotes[LogPosition] = RequestNotes("written")


def note(position: LogPosition) -> None:
    """Remember an appended event's position for the request being answered, if any."""
    WRITTEN.note(position)


def collecting() -> Gathering[LogPosition]:
    """`with collecting() as written:` the positions noted while the block runs."""
    return WRITTEN.gather()
