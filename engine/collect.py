"""What one request gathers as it runs (the log positions it appended, the posting room left
after it), noted from deep in the call chain without passing a list down every call."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Generic, TypeVar

T = TypeVar("T")


class RequestNotes(Generic[T]):
    """Notes of one kind: note() adds to the list of the request being answered, if any (a
    note outside one is dropped); gather() opens that list for a block."""

    __slots__ = ("_var",)

    def __init__(self, name: str) -> None:
        self._var: ContextVar[list[T] | None] = ContextVar(name, default=None)

    def note(self, item: T) -> None:
        notes = self._var.get()
        if notes is not None:
            notes.append(item)

    def gather(self) -> Gathering[T]:
        """`with notes.gather() as items:` the items noted while the block runs (tasks it
        starts share the list)."""
        return Gathering(self._var)


class Gathering(Generic[T]):
    """A class rather than a generator-based context manager: it runs once per request."""

    __slots__ = ("_reset", "_var", "items")

    def __init__(self, var: ContextVar[list[T] | None]) -> None:
        self._var = var
        self.items: list[T] = []
        self._reset: Token[list[T] | None] | None = None

    def __enter__(self) -> list[T]:
        self._reset = self._var.set(self.items)
        return self.items

    def __exit__(self, *exc: object) -> None:
        assert self._reset is not None
        self._var.reset(self._reset)
