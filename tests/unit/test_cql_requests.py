"""The CQL session counts every request it sends, by the adapter's operation."""

from collections.abc import Callable
from typing import Any

import pytest

from engine.adapters.cassandra.session import CqlSession
from engine.config import Settings
from engine.metrics import Metrics

pytestmark = pytest.mark.unit


class Answered:
    def add_callbacks(self, ok: Callable[[Any], None], fail: Callable[[Any], None]) -> None:
        ok([])


class Session:
    def __init__(self) -> None:
        self.sent = 0

    def execute_async(self, statement: Any) -> Answered:
        self.sent += 1
        return Answered()


async def test_each_request_is_counted_once_under_its_operation() -> None:
    metrics = Metrics()
    cql = CqlSession(Settings.from_env({}), metrics)
    session = Session()
    cql._session = session
    for op in ("page", "page", "home_write"):
        await cql._execute(lambda: "SELECT release_version FROM system.local", op)
    value = metrics.registry.get_sample_value
    assert session.sent == 3
    assert value("timeline_cassandra_requests_total", {"op": "page"}) == 2.0
    assert value("timeline_cassandra_requests_total", {"op": "home_write"}) == 1.0
