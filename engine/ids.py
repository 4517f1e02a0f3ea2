"""Snowflake ids: 41 bits of milliseconds since EPOCH_MS, 10 bits of worker, 12 of sequence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.errors import ClockMovedBackwards, IdsUnavailable, InvalidInput

EPOCH_MS = 1288834974657  # Twitter's own Snowflake epoch (2010-11-04T01:42:54.657Z)
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_ID = (1 << 63) - 1
# A backward step this small is waited out; a larger one refuses ids until it passes.
MAX_BACKWARD_WAIT_MS = 5


def make_id(ms: int, worker: int, sequence: int) -> int:
    """Compose an id from its three fields."""
    return ((ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS) | sequence


def id_ms(snowflake: int) -> int:
    """Unix milliseconds at which an id was issued."""
    return (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS


def id_worker(snowflake: int) -> int:
    """The worker field of an id."""
    return (snowflake >> SEQUENCE_BITS) & MAX_WORKER


def min_id_for_ms(ms: int) -> int:
    """The smallest id that can be issued at Unix millisecond `ms`."""
    return make_id(ms, 0, 0)


def decimal(text: str, *, max_digits: int) -> int | None:
    """A whole number written in 1..max_digits ASCII digits, or None (str.isdigit alone takes
    any script's digits, and superscripts that int() refuses)."""
    if not 1 <= len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_id(text: str, *, what: str = "id") -> int:
    """Parse an id written as a decimal string, refusing anything else."""
    value = decimal(text, max_digits=19)
    if value is None:
        raise InvalidInput(f"{what} must be a decimal id", code="invalid_id")
    if value > MAX_ID:
        raise InvalidInput(f"{what} is out of range", code="invalid_id")
    return value


class IdGenerator:
    """Issues strictly increasing ids for one worker; thread-safe.

    A generator for a leased worker id (see engine/worker_ids.py) issues ids only for
    milliseconds in (floor_ms, mark_ms]: above the mark the worker id's earlier holders left,
    and at or below the mark its own lease has stored. Past mark_ms it refuses with
    IdsUnavailable until extend() raises the mark. Without a mark (tools that own a worker
    id outright) it is unbounded.
    """

    def __init__(
        self,
        worker: int,
        clock_ms: Callable[[], int] | None = None,
        *,
        floor_ms: int = -1,
        mark_ms: int | None = None,
    ) -> None:
        _check_worker(worker)
        self.worker = worker
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        # the next id is above (last_ms, sequence); a full sequence moves it past last_ms
        self._last_ms = floor_ms
        self._sequence = MAX_SEQUENCE
        self._mark_ms = mark_ms
        self._lock = threading.Lock()

    @property
    def mark_ms(self) -> int | None:
        """The last millisecond this generator may issue ids for (None: no limit)."""
        return self._mark_ms

    def extend(self, mark_ms: int) -> None:
        """Allow ids up to mark_ms (a renewed lease's mark); the limit never goes down."""
        with self._lock:
            if self._mark_ms is not None and mark_ms > self._mark_ms:
                self._mark_ms = mark_ms

    def adopt(self, worker: int, floor_ms: int, mark_ms: int) -> None:
        """Issue further ids as another worker, above floor_ms and up to mark_ms."""
        _check_worker(worker)
        with self._lock:
            self.worker = worker
            if floor_ms >= self._last_ms:
                self._last_ms, self._sequence = floor_ms, MAX_SEQUENCE
            self._mark_ms = mark_ms

    def next_id(self) -> int:
        """A new id, greater than every id this generator issued before."""
        with self._lock:
            ms = self._current_ms()
            sequence = 0
            if ms == self._last_ms:
                sequence = (self._sequence + 1) & MAX_SEQUENCE
                if sequence == 0:
                    ms = self._wait_past(self._last_ms)
            self._check_mark(ms)
            self._last_ms, self._sequence = ms, sequence
            return make_id(ms, self.worker, sequence)

    def next_ids(self, count: int) -> list[int]:
        """`count` new ids, increasing, each greater than every id issued before: what
        `count` calls of next_id() would give, under one lock and one clock reading per
        millisecond they span (a batch of posts takes its ids at once)."""
        ids: list[int] = []
        with self._lock:
            while len(ids) < count:
                ms = self._current_ms()
                first = 0
                if ms == self._last_ms:
                    first = self._sequence + 1
                    if first > MAX_SEQUENCE:
                        ms, first = self._wait_past(self._last_ms), 0
                self._check_mark(ms)
                take = min(count - len(ids), MAX_SEQUENCE + 1 - first)
                base = make_id(ms, self.worker, first)
                ids.extend(range(base, base + take))
                self._last_ms, self._sequence = ms, first + take - 1
        return ids

    def _check_mark(self, ms: int) -> None:
        if self._mark_ms is not None and ms > self._mark_ms:
            raise IdsUnavailable(
                f"worker {self.worker} may issue ids up to {self._mark_ms} ms only; "
                "its lease was not renewed in time"
            )

    def _current_ms(self) -> int:
        ms = self._clock_ms()
        if ms >= self._last_ms:
            return ms
        behind = self._last_ms - ms
        if behind > MAX_BACKWARD_WAIT_MS:
            raise ClockMovedBackwards(
                f"clock is {behind} ms behind the last id of worker {self.worker}; "
                "refusing to issue ids",
                retry_after_s=max(1, -(-behind // 1000)),
            )
        return self._wait_past(self._last_ms - 1)

    def _wait_past(self, ms: int) -> int:
        now = self._clock_ms()
        while now <= ms:
            time.sleep(0.0001)
            now = self._clock_ms()
        return now


def _check_worker(worker: int) -> None:
    if not 0 <= worker <= MAX_WORKER:
        raise ValueError(f"worker must be in 0..{MAX_WORKER}, got {worker}")
