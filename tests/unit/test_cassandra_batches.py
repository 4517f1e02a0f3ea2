"""The Cassandra adapter sizes its own batches: callers hand it all their rows at once."""

import pytest

from engine.adapters.cassandra.session import (
    BATCH_MAX_BYTES,
    BATCH_MAX_PARTITIONS,
    BATCH_MAX_STATEMENTS,
    chunks,
)

pytestmark = pytest.mark.unit


def test_small_rows_go_in_runs_of_bounded_count() -> None:
    items = [(i, 40) for i in range(1000)]
    runs = chunks([items])  # one partition
    assert [x for run in runs for x in run] == list(range(1000))
    assert max(map(len, runs)) == BATCH_MAX_STATEMENTS
    assert len(runs) == -(-1000 // BATCH_MAX_STATEMENTS)


def test_large_rows_go_in_runs_of_bounded_bytes() -> None:
    weight = 1500  # a 280-character tweet in a non-Latin script, with its keys
    runs = chunks([[(i, weight) for i in range(200)]])
    assert [x for run in runs for x in run] == list(range(200))
    assert all(len(run) * weight <= BATCH_MAX_BYTES for run in runs)
    assert len(runs) > 200 // BATCH_MAX_STATEMENTS + 1


def test_an_item_heavier_than_a_batch_goes_alone() -> None:
    runs = chunks([[(1, 10), (2, BATCH_MAX_BYTES * 2), (3, 10)]])
    assert runs == [[1], [2], [3]]


def test_a_run_spans_a_bounded_number_of_partitions() -> None:
    """Rows one to a partition (the tweet store) go in runs of BATCH_MAX_PARTITIONS: a node
    applies a batch's partitions one after another, each waiting for its commit-log sync."""
    partitions = [[(p, 40)] for p in range(100)]
    runs = chunks(partitions)
    assert [x for run in runs for x in run] == list(range(100))
    assert all(len(run) <= BATCH_MAX_PARTITIONS for run in runs)
    assert len(runs) == -(-100 // BATCH_MAX_PARTITIONS)


def test_a_partitions_rows_stay_together_and_count_once() -> None:
    partitions = [[((p, r), 40) for r in range(5)] for p in range(3 * BATCH_MAX_PARTITIONS)]
    runs = chunks(partitions)
    for run in runs:
        assert len({p for p, _ in run}) <= BATCH_MAX_PARTITIONS
        assert len(run) <= BATCH_MAX_STATEMENTS
    flat = [x for run in runs for x in run]
    assert flat == [(p, r) for p in range(3 * BATCH_MAX_PARTITIONS) for r in range(5)]
