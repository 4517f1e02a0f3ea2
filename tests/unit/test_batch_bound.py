"""Consumer batches sized by the time their records take (fanout/worker.BatchBound)."""

from __future__ import annotations

import pytest

from engine.config import Settings
from fanout.worker import BatchBound


def test_without_a_target_a_batch_takes_the_record_bound() -> None:
    bound = BatchBound(2000, 0.0)
    bound.took(2000, 10.0)
    assert bound.records == 2000


def test_records_that_cost_more_make_smaller_batches_near_the_target() -> None:
    bound = BatchBound(2000, 0.25)
    for _ in range(30):
        bound.took(bound.records, bound.records * 0.001)  # 1 ms a record: 250 fit
    assert bound.records == pytest.approx(250, abs=2)
    for _ in range(30):
        bound.took(bound.records, bound.records * 0.0001)  # cheaper again: up to the bound
    assert bound.records == 2000


def test_a_batch_never_shrinks_below_the_floor() -> None:
    bound = BatchBound(2000, 0.25)
    bound.took(10, 60.0)  # a batch retried for a minute
    assert bound.records == BatchBound.MIN_RECORDS


def test_one_slow_batch_moves_the_bound_only_part_way() -> None:
    bound = BatchBound(2000, 0.25)
    for _ in range(30):
        bound.took(bound.records, bound.records * 0.0005)  # 500 fit
    bound.took(500, 2.5)  # ten times slower, once
    assert 100 < bound.records < 500


@pytest.mark.parametrize(
    "field, value", [("fanout_batch_max_records", 0), ("fanout_batch_target_ms", -1)]
)
def test_bad_batch_settings_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValueError, match="BATCH"):
        Settings(**{field: value}).validate()
