"""A small bounded cache of facts that never change once true (a registered user, a handle)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class KnownCache(Generic[K, V]):
    """Remembers found values (never misses) up to `size` entries, least recently used out."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def knows(self, key: K) -> bool:
        """True when the value is cached."""
        return key in self._items

    async def get(self, key: K, load: Callable[[K], Awaitable[V | None]]) -> V | None:
        """The cached value, or load(key) and cache it when found."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
            return value
        value = await load(key)
        if value is not None:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
