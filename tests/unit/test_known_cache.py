"""KnownCache: found values are kept; callers at once share a load that finds its value, and
a load that found nothing is read again by each caller that joined it."""

from __future__ import annotations

import asyncio

import pytest

from engine.cache import KnownCache

pytestmark = pytest.mark.unit


class Loader:
    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers
        self.calls = 0
        self.gate = asyncio.Event()

    async def __call__(self, key: int) -> str | None:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        await self.gate.wait()
        if answer == "boom":
            raise RuntimeError("store down")
        return answer


async def test_callers_at_once_share_a_load_that_finds_and_it_is_kept() -> None:
    cache: KnownCache[int, str] = KnownCache()
    load = Loader(["alice"])
    callers = [asyncio.ensure_future(cache.get(1, load)) for _ in range(5)]
    await asyncio.sleep(0)
    load.gate.set()
    assert await asyncio.gather(*callers) == ["alice"] * 5
    assert load.calls == 1
    assert cache.knows(1)
    assert await cache.get(1, load) == "alice" and load.calls == 1


async def test_a_load_that_found_nothing_is_read_again_by_who_joined_it() -> None:
    cache: KnownCache[int, str] = KnownCache()
    load = Loader([None, "bob"])  # registered while the first read was in flight
    first = asyncio.ensure_future(cache.get(2, load))
    await asyncio.sleep(0)
    joined = asyncio.ensure_future(cache.get(2, load))
    await asyncio.sleep(0)
    load.gate.set()
    assert await first is None
    assert await joined == "bob"
    assert load.calls == 2 and cache.knows(2)


async def test_a_failed_load_fails_its_callers_and_the_next_get_loads_again() -> None:
    cache: KnownCache[int, str] = KnownCache()
    load = Loader(["boom", "carol"])
    callers = [asyncio.ensure_future(cache.get(3, load)) for _ in range(2)]
    await asyncio.sleep(0)
    load.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await cache.get(3, load) == "carol"


async def test_a_cancelled_caller_leaves_the_load_to_the_others() -> None:
    cache: KnownCache[int, str] = KnownCache()
    load = Loader(["dave"])
    leaving = asyncio.ensure_future(cache.get(4, load))
    staying = asyncio.ensure_future(cache.get(4, load))
    await asyncio.sleep(0)
    leaving.cancel()
    load.gate.set()
    assert await staying == "dave" and load.calls == 1


def test_the_least_recently_used_goes_past_size() -> None:
    async def run() -> None:
        cache: KnownCache[int, str] = KnownCache(size=2)

        async def found(key: int) -> str:
            return str(key)

        for key in (1, 2, 1, 3):
            await cache.get(key, found)
        assert cache.knows(1) and cache.knows(3) and not cache.knows(2)

    asyncio.run(run())
