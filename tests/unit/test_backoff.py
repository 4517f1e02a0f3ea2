"""Backoff: waits grow to a cap, each with jitter, and start over after a success."""

from __future__ import annotations

import pytest

from engine.backoff import Backoff

pytestmark = pytest.mark.unit


def test_waits_double_to_the_cap_each_between_half_and_all_of_its_ceiling() -> None:
    low, high = Backoff(0.1, 1.0, rng=lambda: 0.0), Backoff(0.1, 1.0, rng=lambda: 0.999999)
    lows = [low.next() for _ in range(6)]
    highs = [high.next() for _ in range(6)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert lows == pytest.approx([c / 2 for c in ceilings])
    assert highs == pytest.approx(ceilings, rel=1e-5)
    low.reset()
    assert low.next() == pytest.approx(0.05)


def test_two_processes_failing_together_do_not_retry_in_step() -> None:
    a, b = Backoff(), Backoff()
    assert [a.next() for _ in range(5)] != [b.next() for _ in range(5)]
