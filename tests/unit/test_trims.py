"""A capped timeline is checked once N rows were written to it since its last check."""

import pytest

from fanout.trims import TrimSchedule

pytestmark = pytest.mark.unit


def test_a_timeline_is_due_once_every_n_rows_written_to_it() -> None:
    trims = TrimSchedule(10)
    assert trims.due([(1, 4), (2, 9)]) == []
    assert trims.due([(1, 5), (2, 1)]) == [2]  # 10 rows to timeline 2
    assert trims.due([(1, 1)]) == [1]  # 10 rows to timeline 1
    assert trims.due([(1, 9), (2, 9)]) == []  # both counted again from zero


def test_one_write_of_many_rows_is_due_at_once() -> None:
    assert TrimSchedule(10).due([(7, 25)]) == [7]


def test_every_write_is_due_when_n_is_one() -> None:
    trims = TrimSchedule(1)
    assert trims.due([(1, 1), (2, 1)]) == [1, 2]
    assert trims.due([(1, 1)]) == [1]
