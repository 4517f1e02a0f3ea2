"""TtlCache: a value is used for ttl seconds from when its read was issued, size-bounded."""

from __future__ import annotations

import pytest

from engine.cache import TtlCache

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_value_is_fresh_for_ttl_from_the_read_it_came_from() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(2.0, clock=clock)
    issued = cache.now()
    clock.t += 1.5  # the read took its time: the value is as old as the read
    cache.put("a", 1, issued)
    assert cache.peek("a") == 1
    clock.t += 0.5
    assert cache.peek("a") is None


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0, clock=Clock())
    cache.put("a", 1, cache.now())
    assert cache.peek("a") is None


def test_the_least_recently_used_goes_past_size() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0, size=2, clock=Clock())
    cache.put("a", 1, cache.now())
    cache.put("b", 2, cache.now())
    assert cache.peek("a") == 1  # a is now the more recently used
    cache.put("c", 3, cache.now())
    assert (cache.peek("a"), cache.peek("b"), cache.peek("c")) == (1, None, 3)
    assert len(cache) == 2


async def test_get_loads_once_per_ttl_and_stamps_the_load_when_issued() -> None:
    clock = Clock()
    cache: TtlCache[str, set[int]] = TtlCache(1.0, clock=clock)
    loads: list[str] = []

    async def load(key: str) -> set[int]:
        loads.append(key)
        clock.t += 0.6  # a slow read
        return set()  # an empty value is a value: held, not loaded again

    assert await cache.get("k", load) == set()
    assert await cache.get("k", load) == set()
    assert loads == ["k"]
    clock.t += 0.4  # 1.0 after the first load was issued
    await cache.get("k", load)
    assert loads == ["k", "k"]
