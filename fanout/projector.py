"""What every projection of the log provides to the consumer loop and to rebuilds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TypeVar

from engine.events import Event, decode_all
from engine.ports import LogRecord, ProjectionStore

Decoded = tuple[LogRecord, Event]
E = TypeVar("E", bound=Event)


class Projector(ABC):
    """Turns decoded events into the rows of one view; every write is an idempotent upsert."""

    name: str = ""
    topics: tuple[str, ...] = ()

    @abstractmethod
    def stores(self) -> tuple[ProjectionStore, ...]:
        """The stores this projection writes, and no other projection does."""

    async def clear(self) -> None:
        """Empty what this projection wrote: where a rebuild starts from."""
        for store in self.stores():
            await store.clear()

    @abstractmethod
    async def apply(self, batch: Sequence[Decoded]) -> None:
        """Write the rows for one batch, in log order within each partition."""

    def decode(self, blob: bytes) -> list[Event]:
        """The events of a record of the log, as this projection reads them (whole by
        default; engine/events.py: PoisonEvent and EventTooNew as decode_all)."""
        return decode_all(blob)

    def forget(self) -> None:
        """Drop cached state: partitions may have moved to another consumer."""
        return None

    async def open(self, group: str) -> None:
        """Get ready to apply batches read by this consumer group (nothing by default);
        called before the first batch."""
        return None

    async def close(self) -> None:
        """Let go of what open() acquired (nothing by default); calling it twice is fine."""
        return None


def of_type(batch: Sequence[Decoded], *kinds: type[E]) -> list[E]:
    """The events of exactly these types (not their subclasses), in batch order."""
    return [e for _, e in items_of(batch, *kinds)]


def items_of(batch: Sequence[Decoded], *kinds: type[E]) -> list[tuple[LogRecord, E]]:
    """(record, event) for the events of exactly these types, in batch order."""
    return [(r, e) for r, e in batch if type(e) in kinds]  # type: ignore[misc]
