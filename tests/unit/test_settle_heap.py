"""A started process moves what it built out of the collector's sight and collects its
young generation less often (timeline/app.py settle_heap)."""

from __future__ import annotations

import gc

import pytest

from timeline.app import GC_YOUNG_THRESHOLD, settle_heap

pytestmark = pytest.mark.unit


def test_settle_heap_freezes_the_start_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
