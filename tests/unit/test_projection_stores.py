"""The stores each projector writes, which a rebuild clears: every one, and each once."""

import typing
from collections import Counter
from unittest.mock import AsyncMock, MagicMock

import pytest

from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend, ProjectionStore
from fanout.projections import PROJECTIONS

pytestmark = pytest.mark.unit


def _store_names() -> list[str]:
    hints = typing.get_type_hints(Backend)
    return [n for n, t in hints.items() if isinstance(t, type) and issubclass(t, ProjectionStore)]


def test_every_projection_store_belongs_to_exactly_one_projector() -> None:
    backend = MagicMock()
    named = {id(getattr(backend, n)): n for n in _store_names()}
    projectors = [make(Settings(), backend, Metrics()) for make in PROJECTIONS.values()]
    owned = Counter(named.get(id(s), "?") for p in projectors for s in p.stores())
    assert owned == Counter(named.values())
    assert {"users", "graph", "timelines", "checks"} <= set(owned)


async def test_a_projector_clears_each_store_it_writes() -> None:
    backend = MagicMock()
    for name in _store_names():
        setattr(backend, name, MagicMock(clear=AsyncMock()))
    projector = PROJECTIONS["timelines"](Settings(), backend, Metrics())
    await projector.clear()
    for name in _store_names():
        cleared = getattr(backend, name).clear.await_count
        assert cleared == (1 if name in ("users", "graph", "timelines") else 0), name
