"""Waits between retries: exponential, capped, with jitter, so that processes that failed
together (a store that went away for all of them) do not retry in step."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Each wait is half the current ceiling plus a random part of the other half ("equal
    jitter"); the ceiling doubles from `first` up to `cap`, and reset() starts it over."""

    def __init__(
        self, first: float = 0.1, cap: float = 5.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.first = first
        self.cap = cap
        self.rng = rng
        self.ceiling = first

    def next(self) -> float:
        """The wait before the next try (seconds); later ones grow."""
        ceiling = self.ceiling
        self.ceiling = min(self.cap, ceiling * 2)
        return ceiling / 2 + self.rng() * ceiling / 2

    def reset(self) -> None:
        """A try succeeded: the next failure waits little again."""
        self.ceiling = self.first
