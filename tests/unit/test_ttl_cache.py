"""TtlCache: a value is used for ttl seconds from when its read was issued, size-bounded;
SharedLoads: callers at once share a load issued less than its max age ago."""

from __future__ import annotations

import asyncio

import pytest

from engine.cache import SharedLoads, TtlCache

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


class Loads:
    """A load that waits until released, counted."""

    def __init__(self) -> None:
        self.issued = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.issued += 1
        number = self.issued
        await self.release.wait()
        return number


async def test_callers_at_once_share_one_load_issued_less_than_max_age_ago() -> None:
    clock, load = Clock(), Loads()
    loads: SharedLoads[str, int] = SharedLoads(1.0, clock)
    first = asyncio.ensure_future(loads.load("a", load))
    await asyncio.sleep(0)
    clock.t += 0.9
    joined = asyncio.ensure_future(loads.load("a", load))
    other = asyncio.ensure_future(loads.load("b", load))
    await asyncio.sleep(0)
    clock.t += 0.1  # max age after the first load was issued: a caller now starts its own
    late = asyncio.ensure_future(loads.load("a", load))
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(first, joined, other, late) == [1, 1, 2, 3]
    assert load.issued == 3 and len(loads) == 0  # only loads in flight are held


async def test_a_cancelled_caller_leaves_the_shared_load_to_the_others() -> None:
    load = Loads()
    loads: SharedLoads[str, int] = SharedLoads(1.0)
    gone = asyncio.ensure_future(loads.load("a", load))
    stays = asyncio.ensure_future(loads.load("a", load))
    await asyncio.sleep(0)
    gone.cancel()
    load.release.set()
    assert await stays == 1
    assert gone.cancelled() and load.issued == 1


async def test_a_failed_load_fails_each_caller_and_is_not_kept() -> None:
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise OSError("down")

    loads: SharedLoads[str, int] = SharedLoads(1.0)
    found = await asyncio.gather(
        loads.load("a", failing), loads.load("a", failing), return_exceptions=True
    )
    assert [type(e) for e in found] == [OSError, OSError] and calls == 1
    with pytest.raises(OSError):
        await loads.load("a", failing)  # the next caller loads again
    assert calls == 2


async def test_a_max_age_of_zero_shares_nothing() -> None:
    load = Loads()
    loads: SharedLoads[str, int] = SharedLoads(0.0, Clock())
    both = asyncio.gather(loads.load("a", load), loads.load("a", load))
    await asyncio.sleep(0)
    load.release.set()
    assert await both == [1, 2]
