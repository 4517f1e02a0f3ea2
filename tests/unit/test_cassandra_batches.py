"""The Cassandra adapter sizes its own batches: callers hand it all their rows at once."""

import pytest

from engine.adapters.cassandra.session import BATCH_MAX_BYTES, BATCH_MAX_STATEMENTS, chunks

pytestmark = pytest.mark.unit


def test_small_rows_go_in_runs_of_bounded_count() -> None:
    items = [(i, 40) for i in range(1000)]
    runs = chunks(items)
    assert [x for run in runs for x in run] == list(range(1000))
    assert max(map(len, runs)) == BATCH_MAX_STATEMENTS
    assert len(runs) == -(-1000 // BATCH_MAX_STATEMENTS)


def test_large_rows_go_in_runs_of_bounded_bytes() -> None:
    weight = 1500  # a 280-character tweet in a non-Latin script, with its keys
    runs = chunks([(i, weight) for i in range(200)])
    assert [x for run in runs for x in run] == list(range(200))
    assert all(len(run) * weight <= BATCH_MAX_BYTES for run in runs)
    assert len(runs) > 200 // BATCH_MAX_STATEMENTS + 1


def test_an_item_heavier_than_a_batch_goes_alone() -> None:
    runs = chunks([(1, 10), (2, BATCH_MAX_BYTES * 2), (3, 10)])
    assert runs == [[1], [2], [3]]
