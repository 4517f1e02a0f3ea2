"""What makes a process unready, by role: a dependency that fails is shown, and gates only
the roles it should."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import Settings
from timeline.app import Engine
from timeline.readiness import is_ready

pytestmark = pytest.mark.unit


class FakeLog:
    def __init__(self, up: bool, writable: bool) -> None:
        self.up, self.can_write = up, writable

    async def ping(self) -> bool:
        return self.up

    async def writable(self) -> bool:
        return self.can_write


class FakeBackend:
    def __init__(self, log_up: bool = True, writable: bool = True, store_up: bool = True) -> None:
        self.log = FakeLog(log_up, writable)
        self.store_up = store_up

    async def ping_store(self) -> bool:
        return self.store_up


async def readiness(parts: tuple[str, ...], **state: Any) -> tuple[bool, dict[str, bool]]:
    engine = Engine(Settings(), parts=parts)
    engine.backend = FakeBackend(**state)  # type: ignore[assignment]
    return await engine.ready()


async def test_ingest_stays_ready_when_its_log_takes_no_writes_and_says_so() -> None:
    ready, checks = await readiness(("ingest",), writable=False)
    assert ready is True
    assert checks == {"log": True, "store": True, "log_writable": False}
    ready, checks = await readiness(("ingest",), log_up=False, store_up=False)
    assert ready is True and checks["log"] is False and checks["store"] is False


async def test_readers_are_unready_only_while_the_store_is_down() -> None:
    assert (await readiness(("readers",), log_up=False))[0] is True
    ready, checks = await readiness(("readers",), store_up=False)
    assert ready is False and "log_writable" not in checks


async def test_a_process_is_unready_when_any_of_its_parts_is() -> None:
    assert (await readiness(("ingest", "readers"), store_up=False))[0] is False
    assert (await readiness(("ingest", "readers"), writable=False))[0] is True


def test_consumers_are_unready_when_the_log_or_store_fails_or_a_consumer_died() -> None:
    healthy = {"log": True, "store": True, "consumers": True}
    assert is_ready(("fanout",), healthy)
    for failed in healthy:
        assert not is_ready(("index",), {**healthy, failed: False}), failed
