"""engine/tables.py: the one list of projection tables, against the projectors and the schema."""

import re
from unittest.mock import MagicMock

import pytest

from engine.config import Settings
from engine.metrics import Metrics
from engine.tables import PROJECTION_TABLES
from fanout.projections import PROJECTIONS
from schemas import CQL_DIR

pytestmark = pytest.mark.unit


def _owned() -> list[str]:
    settings, backend, metrics = Settings(), MagicMock(), Metrics()
    return [t for make in PROJECTIONS.values() for t in make(settings, backend, metrics).tables]


def test_every_projection_table_belongs_to_exactly_one_projection() -> None:
    assert sorted(_owned()) == sorted(PROJECTION_TABLES)
    assert len(set(PROJECTION_TABLES)) == len(PROJECTION_TABLES)


def test_every_projection_table_is_in_the_cassandra_schema() -> None:
    text = "\n".join(p.read_text() for p in sorted(CQL_DIR.glob("*.cql")))
    created = set(re.findall(r"CREATE TABLE IF NOT EXISTS \{keyspace\}\.(\w+)", text))
    assert set(PROJECTION_TABLES) <= created
    assert "handle_claims" in created  # the pattern finds tables that are not projections too
