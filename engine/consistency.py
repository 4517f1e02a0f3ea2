"""Consistency tokens: where a write's events lie in the log, for reads that must see them.

A token is opaque to clients; it is `topic:partition:offset` entries joined by commas, at
most one per (topic, partition), the highest offset kept. Tokens can be joined with commas,
so a client may present several writes at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.errors import InvalidInput
from engine.events import GRAPH_TOPIC, MESSAGES_TOPIC, TWEETS_TOPIC
from engine.ports import LogPosition

HEADER = "Consistency-Token"
PARAMETER = "consistency_token"
TOPICS = (TWEETS_TOPIC, GRAPH_TOPIC, MESSAGES_TOPIC)
MAX_LENGTH = 2048
MAX_PARTITION = 100_000
MAX_OFFSET = 2**63 - 1
INVALID = "invalid_consistency_token"
TopicPartition = tuple[str, int]


def latest(positions: Iterable[LogPosition]) -> dict[TopicPartition, int]:
    """The highest offset of each (topic, partition) among positions."""
    found: dict[TopicPartition, int] = {}
    for p in positions:
        key = (p.topic, p.partition)
        found[key] = max(found.get(key, -1), p.offset)
    return found


def encode_token(positions: Iterable[LogPosition]) -> str:
    """The token of some appended events ("" for none)."""
    return ",".join(f"{t}:{p}:{o}" for (t, p), o in sorted(latest(positions).items()))


def parse_token(raw: str) -> dict[TopicPartition, int]:
    """(topic, partition) -> offset of a token; InvalidInput for anything else."""
    if not raw or len(raw) > MAX_LENGTH or not raw.isascii():
        raise _invalid()
    return latest(_position(entry.strip()) for entry in raw.split(","))


def _position(entry: str) -> LogPosition:
    parts = entry.split(":")
    if len(parts) != 3 or parts[0] not in TOPICS or not all(_digits(x) for x in parts[1:]):
        raise _invalid()
    partition, offset = int(parts[1]), int(parts[2])
    if partition > MAX_PARTITION or offset > MAX_OFFSET:
        raise _invalid()
    return LogPosition(parts[0], partition, offset)


def _digits(text: str) -> bool:
    return 0 < len(text) <= 19 and text.isdigit()


def _invalid() -> InvalidInput:
    return InvalidInput("Consistency-Token must be a token from a write's answer", code=INVALID)
