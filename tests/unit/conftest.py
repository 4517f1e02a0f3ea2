"""What unit tests of projection logic share: a started embedded backend in a fresh folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from engine.adapters import open_backend
from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend


@pytest_asyncio.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Backend]:
    """The embedded backend (SQLite log and store) in this test's own data folder."""
    settings = Settings.from_env({}, backend="embedded", data_dir=str(tmp_path / "data"))
    async with open_backend(settings, Metrics()) as backend:
        yield backend
