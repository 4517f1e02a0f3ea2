"""The Cassandra adapter sizes its own batches: callers hand it all their rows at once."""

from collections.abc import Sequence
from typing import Any, cast

import pytest

from engine.adapters.cassandra import CqlSession
from engine.adapters.cassandra.session import SPREAD_ROWS, _spread
from engine.adapters.cassandra.timelines import HOME_ROWS_PER_BATCH, CassandraTimelines
from engine.records import Tweet

pytestmark = pytest.mark.unit


class Batches:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    async def run_batch(self, cql: str, rows: Sequence[Sequence[Any]], *, op: str) -> None:
        self.sizes.append(len(rows))


async def test_many_home_rows_go_in_batches_of_bounded_size() -> None:
    cql = Batches()
    rows = [(Tweet(i, 7, "a7", "ж" * 280, 1_700_000_000_000), i) for i in range(1, 121)]
    await CassandraTimelines(cast(CqlSession, cql)).add_home_rows(1, rows)
    assert sum(cql.sizes) == 120
    assert max(cql.sizes) <= HOME_ROWS_PER_BATCH < 120


def test_rows_of_many_partitions_go_in_batches_under_the_warning_thresholds() -> None:
    small = [(i, b"x" * 100) for i in range(25)]
    assert [len(c) for c in _spread(small)] == [SPREAD_ROWS, SPREAD_ROWS, 5]
    large = [(i, b"x" * 1500) for i in range(5)]
    chunks = _spread(large)
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [row for chunk in chunks for row in chunk] == large  # every row, in order
    assert _spread([(1, b"x" * 10_000)]) == [[(1, b"x" * 10_000)]]  # alone, however large
    assert _spread([]) == []
