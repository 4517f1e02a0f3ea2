"""Consistency tokens, and which groups a read with one waits for."""

from __future__ import annotations

import json

import pytest

from engine.config import Settings
from engine.consistency import encode_token, parse_token
from engine.errors import InvalidInput
from engine.groups import PROJECTION_TOPICS, group_name
from engine.metrics import Metrics
from engine.ports import LogPosition
from fanout.projections import PROJECTIONS
from readers.consistency import ROUTES, projections_of, targets
from schemas import OPENAPI_FILE

pytestmark = pytest.mark.unit


class _NoBackend:
    """Projectors are built without touching a backend."""

    def __getattr__(self, name: str) -> None:
        return None


def test_a_token_keeps_the_highest_offset_of_each_partition_and_reads_back() -> None:
    positions = [
        LogPosition("tweets", 2, 40),
        LogPosition("tweets", 2, 41),
        LogPosition("graph", 0, 7),
        LogPosition("tweets", 0, 3),
    ]
    token = encode_token(positions)
    assert token == "graph:0:7,tweets:0:3,tweets:2:41"
    assert parse_token(token) == {("graph", 0): 7, ("tweets", 0): 3, ("tweets", 2): 41}
    assert parse_token(f"{token}, tweets:2:9") == parse_token(token)  # joined tokens merge
    assert encode_token([]) == ""


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "x",
        "tweets:1",
        "tweets:1:2:3",
        "users:0:1",
        "tweets:-1:2",
        "tweets:0:1e3",
        "tweets:0:٣",
        "tweets:0:²",
        "tweets::1",
        "tweets:0:" + "9" * 20,
        "tweets:0:1," * 300,
    ],
)
def test_anything_else_is_an_invalid_token(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_token(raw)
    assert refused.value.code == "invalid_consistency_token"


def test_each_projection_is_known_by_the_topics_its_projector_reads() -> None:
    settings = Settings()
    assert set(PROJECTION_TOPICS) == set(PROJECTIONS)
    for name, topics in PROJECTION_TOPICS.items():
        projector = PROJECTIONS[name](settings, _NoBackend(), Metrics())  # type: ignore[arg-type]
        assert projector.name == name
        assert set(projector.topics) == set(topics), name


def test_group_names_are_the_deployed_ones() -> None:
    settings = Settings()
    prefix = settings.consumer_group_prefix
    assert {name: group_name(settings, name) for name in PROJECTIONS} == {
        "timelines": prefix + "fanout",
        "index": prefix + "index",
        "lists": prefix + "lists",
        "messages": prefix + "messages",
        "trends": prefix + "trends",
        "search": prefix + "search",
        "checks": prefix + "checks",
    }


def test_every_mapped_route_is_a_documented_read() -> None:
    doc = json.loads(OPENAPI_FILE.read_text())
    for route, projections in ROUTES.items():
        assert "get" in doc["paths"][route], route
        assert set(projections) <= set(PROJECTION_TOPICS) - {"checks"}
        params = {p["name"] for p in doc["paths"][route]["get"].get("parameters", [])}
        assert {"Consistency-Token", "consistency_token"} <= params, route


def test_a_read_waits_only_for_positions_on_topics_its_groups_read() -> None:
    settings = Settings(consumer_group_prefix="p-")
    token = {("tweets", 1): 9, ("graph", 0): 4, ("messages", 2): 1}
    assert targets(settings, ("lists", "timelines"), token) == {
        "p-lists": {("tweets", 1): 10, ("graph", 0): 5},
        "p-fanout": {("tweets", 1): 10, ("graph", 0): 5},
    }
    assert targets(settings, projections_of("/v1/users/{id}/direct_messages"), token) == {
        "p-messages": {("messages", 2): 2}
    }
    assert projections_of("/v1/lists/{list_id}/members") == ("lists", "timelines")
    assert projections_of("/v1/lists/{list_id}/other") == ("lists",)
    assert projections_of("/v1/hashtags/{tag}/stream") == ()
    assert projections_of("/v1/users/{id}/home_timeline/stream") == ()
