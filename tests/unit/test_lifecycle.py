"""engine/lifecycle.Background: one task from start() to stop(), stop() idempotent, `async with`."""

from __future__ import annotations

import asyncio

import pytest

from engine.lifecycle import Background

pytestmark = pytest.mark.unit


class Ticker(Background):
    """Counts ticks until cancelled; records its open and close calls."""

    task_name = "ticker"

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.ticks = 0
        self.cancelled = False

    async def _open(self) -> None:
        self.opened += 1

    async def _close(self) -> None:
        self.closed += 1

    async def _run(self) -> None:
        try:
            while True:
                self.ticks += 1
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class Draining(Background):
    """Returns on its own once asked to finish, after a last piece of work."""

    stop_grace_s = 5.0

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.finished_cleanly = False

    def _finish(self) -> None:
        self.asked.set()

    async def _run(self) -> None:
        await self.asked.wait()
        await asyncio.sleep(0.01)  # the batch in hand
        self.finished_cleanly = True


class Failing(Background):
    async def _run(self) -> None:
        raise RuntimeError("boom")


async def test_start_runs_one_task_and_a_second_start_does_nothing() -> None:
    ticker = Ticker()
    await ticker.start()
    await ticker.start()
    assert ticker.running and ticker.opened == 1
    assert [t.get_name() for t in asyncio.all_tasks()].count("ticker") == 1
    await asyncio.sleep(0.01)
    assert ticker.ticks > 0
    await ticker.stop()
    assert not ticker.running and ticker.cancelled


async def test_stop_is_idempotent_and_closes_once() -> None:
    ticker = Ticker()
    await ticker.stop()  # never started: nothing to close
    assert ticker.closed == 0
    await ticker.start()
    await ticker.stop()
    await ticker.stop()
    assert ticker.closed == 1
    assert "ticker" not in [t.get_name() for t in asyncio.all_tasks()]


async def test_async_with_starts_and_stops() -> None:
    async with Ticker() as ticker:
        assert ticker.running
    assert not ticker.running and ticker.closed == 1


async def test_a_stopped_owner_starts_again() -> None:
    ticker = Ticker()
    async with ticker:
        pass
    async with ticker:
        assert ticker.running
    assert (ticker.opened, ticker.closed) == (2, 2)


async def test_stop_lets_the_task_finish_within_the_grace() -> None:
    draining = Draining()
    await draining.start()
    await draining.stop()
    assert draining.finished_cleanly


async def test_a_task_past_its_grace_is_cancelled() -> None:
    ticker = Ticker()
    ticker.stop_grace_s = 0.02  # it never returns on its own
    await ticker.start()
    await ticker.stop()
    assert ticker.cancelled and ticker.closed == 1


async def test_the_task_error_is_raised_by_stop() -> None:
    failing = Failing()
    await failing.start()
    await asyncio.sleep(0)
    assert not failing.running
    with pytest.raises(RuntimeError, match="boom"):
        await failing.stop()
    await failing.stop()  # and only once


async def test_a_cancelled_stop_still_ends_the_task_and_is_cancelled() -> None:
    ticker = Ticker()
    ticker.stop_grace_s = 60.0
    await ticker.start()
    stopping = asyncio.create_task(ticker.stop())
    await asyncio.sleep(0.01)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert ticker.cancelled and ticker.closed == 1 and not ticker.running
