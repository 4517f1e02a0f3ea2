"""Snowflake ids: 41 bits of milliseconds since EPOCH_MS, 10 bits of worker, 12 of sequence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.errors import ClockMovedBackwards, InvalidInput

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
    """Issues strictly increasing ids for one worker; thread-safe."""

    def __init__(self, worker: int, clock_ms: Callable[[], int] | None = None) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker must be in 0..{MAX_WORKER}, got {worker}")
        self.worker = worker
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()

    def next_id(self) -> int:
        """A new id, greater than every id this generator issued before."""
        with self._lock:
            ms = self._current_ms()
            if ms == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    ms = self._wait_past(self._last_ms)
            else:
                self._sequence = 0
            self._last_ms = ms
            return make_id(ms, self.worker, self._sequence)

    def _current_ms(self) -> int:
        ms = self._clock_ms()
        if ms >= self._last_ms:
            return ms
        behind = self._last_ms - ms
        if behind > MAX_BACKWARD_WAIT_MS:
            raise ClockMovedBackwards(f"clock moved back {behind} ms; refusing to issue ids")
        return self._wait_past(self._last_ms - 1)

    def _wait_past(self, ms: int) -> int:
        now = self._clock_ms()
        while now <= ms:
            time.sleep(0.0001)
            now = self._clock_ms()
        return now
