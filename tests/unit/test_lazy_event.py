"""LazyEvent: the driver's per-request Event, built only when a thread waits (lazy_event.py)."""

from __future__ import annotations

import threading
import time

import pytest

from engine.adapters.cassandra.lazy_event import LazyEvent, install

pytestmark = pytest.mark.unit


def test_a_waiting_thread_is_woken_by_set() -> None:
    event = LazyEvent()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(event.wait(5)))
    waiter.start()
    time.sleep(0.1)  # the waiter is blocked in wait() by now
    assert woke == []
    event.set()
    waiter.join(5)
    assert woke == [True]


def test_set_before_wait_returns_at_once_and_timeouts_answer_false() -> None:
    event = LazyEvent()
    assert not event.is_set()
    started = time.monotonic()
    assert event.wait(0.05) is False
    assert time.monotonic() - started >= 0.04
    event.set()
    assert event.is_set() and event.wait(0) is True
    event.clear()
    assert not event.is_set() and event.wait(0.01) is False


def test_no_wake_up_is_lost_between_many_setters_and_waiters() -> None:
    events = [LazyEvent() for _ in range(300)]
    results: list[bool] = []
    waiters = [threading.Thread(target=lambda e=e: results.append(e.wait(5))) for e in events]
    for w in waiters:
        w.start()
    for e in events:
        e.set()
    for w in waiters:
        w.join(10)
    assert results == [True] * len(events)


def test_install_gives_the_driver_lazy_events() -> None:
    import cassandra.cluster

    install()
    assert cassandra.cluster.Event is LazyEvent
