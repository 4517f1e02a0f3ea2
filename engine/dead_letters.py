"""Dead letters: records a consumer group could not read, set aside in the dead-letter topic.

A letter names the group that failed the record, where the record lies in the log, why, and
when. `timeline dead-letters replay` brings a group's letters back into that group (never into
the log's own topics, where every group would read them again): it applies them with the
group's projector and commits its progress under the group's replay cursor, a consumer group
of its own on the dead-letter topic, so a letter is brought back once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from engine.ports import LogRecord

REPLAY_SUFFIX = ".dead-letters"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record set aside by a group, and the letter's own place in the dead-letter topic."""

    letter_partition: int
    letter_offset: int
    group: str
    topic: str
    partition: int
    offset: int
    reason: str
    at_us: int | None
    value: bytes

    def record(self) -> LogRecord:
        """The record as the group first read it, at its place in the log."""
        return LogRecord(self.topic, self.partition, self.offset, self.value)

    @property
    def source(self) -> tuple[str, str, int, int]:
        """Which group failed which record: the same for every letter about it."""
        return (self.group, self.topic, self.partition, self.offset)


def parse_letter(record: LogRecord) -> DeadLetter | None:
    """The letter in a record of the dead-letter topic, or None if it is not one."""
    try:
        data: Any = msgpack.unpackb(record.value, raw=False)
        at = data.get("ts")
        return DeadLetter(
            record.partition,
            record.offset,
            str(data["group"]),
            str(data["topic"]),
            int(data["partition"]),
            int(data["offset"]),
            str(data["reason"]),
            at if isinstance(at, int) else None,
            bytes(data["value"]),
        )
    except Exception:  # a letter is written by the engine; anything else is not one
        return None


def replay_group(group: str) -> str:
    """The consumer group whose commits record how far a group's letters were brought back."""
    return group + REPLAY_SUFFIX
