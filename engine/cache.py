"""Small bounded caches: facts that never change once true (a registered user, a handle), the
rows a projection keeps between batches, values that may change, kept for a time, and the
loads of such values in flight, shared by whoever wants the same one meanwhile."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class KnownCache(Generic[K, V]):
    """Remembers found values (never misses) up to `size` entries, least recently used out.

    Callers that want the same unknown key at once share one load when it finds the value (a
    batch's authors, many requests of one new user). A load that found nothing is not shared:
    it may have been issued before a write the joining caller saw acknowledged, so each such
    caller reads for itself."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V | None]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def knows(self, key: K) -> bool:
        """True when the value is cached."""
        return key in self._items

    def peek(self, key: K) -> V | None:
        """The cached value (it counts as just used), or None: nothing is loaded."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def remember(self, key: K, value: V) -> None:
        """Hold a value found elsewhere (a warm start), as a load that found it would."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    async def get(self, key: K, load: Callable[[K], Awaitable[V | None]]) -> V | None:
        """The cached value, or load(key) and cache it when found."""
        value = self.peek(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            value = await asyncio.shield(pending)
            if value is not None:
                return value
        task = asyncio.ensure_future(load(key))
        self._loading[key] = task
        task.add_done_callback(functools.partial(self._loaded, key))
        return await asyncio.shield(task)

    def _loaded(self, key: K, task: asyncio.Future[V | None]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if task.cancelled() or task.exception() is not None:
            return  # each caller awaiting it gets the error; retrieved here for the rest
        value = task.result()
        if value is not None:
            self.remember(key, value)


class BoundedRows(Generic[K, V]):
    """Rows a projection keeps in memory between batches, the store holding the same values:
    at most `size` after trim(), least recently used out (a row let go is read again when
    needed). Trim only between batches, so the rows a batch loaded stay while it runs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)

    def missing(self, keys: Iterable[K]) -> list[K]:
        """The keys not held; those held count as just used."""
        absent = []
        for key in keys:
            if key in self._items:
                self._items.move_to_end(key)
            else:
                absent.append(key)
        return absent

    def update(self, rows: Mapping[K, V]) -> None:
        """Hold these rows."""
        for key, value in rows.items():
            self[key] = value

    def clear(self) -> None:
        """Hold nothing."""
        self._items.clear()

    def trim(self) -> None:
        """Let the least recently used rows go, down to `size`."""
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class TtlCache(Generic[K, V]):
    """Values that may change, each used for `ttl_s` seconds after the read that found it was
    *issued* (so a value is never older than that), at most `size` of them, least recently
    used out. A ttl of 0 keeps nothing."""

    def __init__(
        self, ttl_s: float, size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def now(self) -> float:
        """The clock reading to stamp a read with: take it before the read is issued."""
        return self.clock()

    def peek(self, key: K) -> V | None:
        """The value while it is fresh (it counts as just used), else None."""
        hit = self._items.get(key)
        if hit is None or self.clock() - hit[0] >= self.ttl_s:
            return None
        self._items.move_to_end(key)
        return hit[1]

    def discard(self, key: K) -> None:
        """Hold nothing for `key` (its value is known to have changed)."""
        self._items.pop(key, None)

    def put(self, key: K, value: V, issued_at: float) -> None:
        """Hold the value found by a read issued at `issued_at` (a reading of now())."""
        self._items[key] = (issued_at, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    async def get(self, key: K, load: Callable[[K], Awaitable[V]]) -> V:
        """The fresh value, or load(key), held from the time the load was issued."""
        value = self.peek(key)
        if value is None:
            issued_at = self.clock()
            value = await load(key)
            self.put(key, value, issued_at)
        return value


class LruCache(Generic[K, V]):
    """Values that never change once known (an immutable record, its encoding), at most `size`
    of them, least recently used out: a value let go is made or read again when needed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The value (it counts as just used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Hold the value, letting the least recently used go beyond `size`."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class SharedLoads(Generic[K, V]):
    """Loads in flight by key, so that callers wanting the same value at once issue one read.

    A caller joins a load issued less than `max_age_s` ago, else starts its own: a joined
    answer was read no earlier than `max_age_s` before the caller came, as a TtlCache value
    of that ttl. Only loads in flight are held (so at most as many as callers at once); a
    caller's cancellation never cancels a load that others wait for. A max_age of 0 shares
    nothing."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self._loads: dict[K, tuple[float, asyncio.Future[V]]] = {}

    def __len__(self) -> int:
        return len(self._loads)

    async def load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The answer of a load of `key` issued less than max_age_s ago, or of load()."""
        now = self.clock()
        held = self._loads.get(key)
        if held is None or now - held[0] >= self.max_age_s:
            task = asyncio.ensure_future(load())
            held = self._loads[key] = (now, task)
            task.add_done_callback(functools.partial(self._done, key))
        return await asyncio.shield(held[1])

    def _done(self, key: K, task: asyncio.Future[V]) -> None:
        held = self._loads.get(key)
        if held is not None and held[1] is task:
            del self._loads[key]
        if not task.cancelled():
            task.exception()  # retrieved here too: each caller awaiting it still gets it
