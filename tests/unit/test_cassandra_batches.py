"""The Cassandra adapter sizes its own batches: callers hand it all their rows at once."""

from collections.abc import Sequence
from typing import Any, cast

import pytest

from engine.adapters.cassandra import CqlSession
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
