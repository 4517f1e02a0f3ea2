import pytest

from engine.config import Settings
from engine.http import page_json, rfc3339
from engine.ids import MAX_ID
from engine.merge import merge
from engine.ports import LogRecord
from engine.records import PageQuery, Tweet, upper_bound
from fanout.worker import next_positions

pytestmark = pytest.mark.unit


def tweet(i: int) -> Tweet:
    return Tweet(i, 1, "a", f"t{i}", 0)


def test_merge_is_newest_first_without_duplicates_and_capped() -> None:
    own = [tweet(9), tweet(5), tweet(2)]
    star = [tweet(8), tweet(5), tweet(1)]
    assert [t.id for t in merge([own, star], 4)] == [9, 8, 5, 2]


def test_a_page_query_gives_its_store_bounds_with_open_ends_filled() -> None:
    assert PageQuery(5).bounds == (MAX_ID, -1)
    assert PageQuery(5, max_id=90, since_id=10).bounds == (90, 10)
    assert (PageQuery(max_id=7).upper, PageQuery(since_id=0).lower) == (7, 0)
    assert (upper_bound(None), upper_bound(3)) == (MAX_ID, 3)


def test_a_probe_asks_for_one_more_item_with_the_same_cursor() -> None:
    query = PageQuery(20, max_id=90, since_id=10)
    assert query.probe_size == 21
    assert query.probe() == PageQuery(21, 90, 10)


def test_page_has_next_max_id_only_when_more_was_fetched() -> None:
    assert page_json([1, 2, 3], 3, "tweets", None) == {"tweets": [1, 2, 3]}
    assert page_json([1, 2, 3, 4], 3, "tweets", 30) == {"tweets": [1, 2, 3], "next_max_id": "29"}


def test_commit_positions_are_one_past_the_last_record_per_partition() -> None:
    records = [
        LogRecord("tweets", 0, 4, b""),
        LogRecord("tweets", 0, 5, b""),
        LogRecord("graph", 2, 9, b""),
    ]
    assert next_positions(records) == {("tweets", 0): 6, ("graph", 2): 10}


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(1276743845123) == "2010-06-17T03:04:05.123Z"


def test_settings_from_environment_with_units_and_lists() -> None:
    s = Settings.from_env(
        {
            "TIMELINE_PORT": "9000",
            "TIMELINE_CASSANDRA_HOSTS": "a, b",
            "TIMELINE_CASSANDRA_REQUEST_TIMEOUT_S": "2.5",
        }
    )
    assert (s.port, s.cassandra_hosts, s.cassandra_request_timeout_s) == (9000, ("a", "b"), 2.5)


@pytest.mark.parametrize(
    "env",
    [
        {"TIMELINE_PORT": "x"},
        {"TIMELINE_BACKEND": "nope"},
        {"TIMELINE_WORKER_LEASE_RENEW_S": "0"},
        {"TIMELINE_WORKER_LEASE_S": "30", "TIMELINE_WORKER_LEASE_RENEW_S": "30"},
    ],
)
def test_bad_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(env)
