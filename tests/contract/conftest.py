"""The contract tier: one suite per port, run against every backend.

Each test gets a started `backend` of each kind. "embedded" lives in a fresh data folder under
tmp_path. "kafka-cassandra" (marked integration) runs on the local servers of deploy/local, in
a keyspace of this test session and a topic prefix of this test (so its log starts empty),
all dropped at the end of the session.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from deploy.local.cleanup import drop_run
from engine.adapters import open_backend
from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend

PARTITIONS = 3
IDEMPOTENCY_TTL_S = 2
KINDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("kafka-cassandra", id="kafka-cassandra", marks=pytest.mark.integration),
]
Reopen = Callable[[], Awaitable[Backend]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/contract" in str(item.fspath):
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture(scope="session")
async def session_settings(kind: str) -> AsyncIterator[Settings]:
    """The settings every test of one backend kind starts from."""
    common = {"kafka_partitions": PARTITIONS, "idempotency_ttl_s": IDEMPOTENCY_TTL_S}
    if kind == "embedded":
        yield Settings.from_env({}, backend="embedded", **common)
        return
    from deploy.local import infra

    infra.ensure_up()
    run = uuid.uuid4().hex[:8]
    host, port = infra.cassandra_contact()
    settings = Settings.from_env(
        {},
        backend="kafka-cassandra",
        kafka_bootstrap=infra.kafka_bootstrap(),
        cassandra_hosts=(host,),
        cassandra_port=port,
        cassandra_keyspace=f"ct_{run}",
        kafka_topic_prefix=f"ct-{run}.",
        **common,
    )
    yield settings
    await drop_run(settings)


_test_numbers = itertools.count()


@pytest.fixture
def settings(session_settings: Settings, tmp_path: Path) -> Settings:
    """This test's settings: its own data folder, or its own topics."""
    if session_settings.backend == "embedded":
        return dataclasses.replace(session_settings, data_dir=str(tmp_path / "data"))
    prefix = f"{session_settings.kafka_topic_prefix}{next(_test_numbers)}."
    return dataclasses.replace(session_settings, kafka_topic_prefix=prefix)


@pytest_asyncio.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    async with open_backend(settings, Metrics()) as started:
        yield started


@pytest_asyncio.fixture
async def reopen(settings: Settings) -> AsyncIterator[Reopen]:
    """Open another backend on the same data (as a restarted process would)."""
    opened: list[Backend] = []

    async def open_again() -> Backend:
        again = open_backend(settings, Metrics())
        opened.append(again)
        await again.start()
        return again

    yield open_again
    for again in opened:
        await again.stop()
