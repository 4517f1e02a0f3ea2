"""The integration tier: the engine in-process on the real Kafka and Cassandra of deploy/local.

Each test session gets its own keyspace, topic prefix and consumer group, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from deploy.local import infra
from deploy.local.cleanup import drop_run
from engine.adapters.cassandra.session import CqlSession
from engine.config import Settings
from engine.metrics import Metrics
from tests.support import Api
from timeline.app import Engine

CELEBRITY_THRESHOLD = 3
HOME_CAP = 30
LIST_MAX = 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def servers() -> Iterator[None]:
    """Kafka and Cassandra, started by the project's own launcher if they are not running."""
    infra.ensure_up(progress=False)
    yield


BACKENDS = [
    pytest.param("kafka-cassandra", id="kafka-cassandra"),
    pytest.param("embedded", id="embedded"),
]


@pytest.fixture(scope="session", params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Every end-to-end test runs on both backends."""
    return str(request.param)


@pytest.fixture(scope="session")
def settings(backend_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    run = uuid.uuid4().hex[:8]
    common: dict[str, object] = dict(
        backend=backend_kind,
        kafka_partitions=3,
        celebrity_threshold=CELEBRITY_THRESHOLD,
        home_timeline_cap=HOME_CAP,
        home_trim_every=1,
        list_max_members=LIST_MAX,
        celebrity_cache_s=0.0,
        followed_celebrities_cache_s=0.0,
        trends_cache_s=0.0,
    )
    if backend_kind == "embedded":
        return Settings.from_env(
            {}, data_dir=str(tmp_path_factory.mktemp(f"engine-{run}")), **common
        )
    infra.ensure_up(progress=False)
    host, port = infra.cassandra_contact()
    return Settings.from_env(
        {},
        kafka_bootstrap=infra.kafka_bootstrap(),
        cassandra_hosts=(host,),
        cassandra_port=port,
        cassandra_keyspace=f"it_{run}",
        kafka_topic_prefix=f"it-{run}.",
        consumer_group_prefix=f"it-{run}-",
        **common,
    )


@contextlib.asynccontextmanager
async def running_engine(settings: Settings) -> AsyncIterator[Engine]:
    """An engine on these settings; on Kafka + Cassandra its keyspace and topics are dropped
    after it stops."""
    engine = Engine(settings)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
        if settings.backend == "kafka-cassandra":
            await drop_run(settings)


@contextlib.asynccontextmanager
async def api_of(engine: Engine) -> AsyncIterator[Api]:
    """An HTTP client of the engine's application."""
    assert engine.app is not None
    client = TestClient(TestServer(engine.app))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


@pytest_asyncio.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with running_engine(settings) as started:
        yield started


@pytest_asyncio.fixture(scope="session")
async def api(engine: Engine) -> AsyncIterator[Api]:
    async with api_of(engine) as client:
        yield client


# A CQL session of its own keyspace for a module's tests of the session itself
# (test_cql_loop.py, test_native_client.py); the keyspace is dropped after the module.
@pytest.fixture(scope="module")
def cql_settings() -> Settings:
    infra.ensure_up(progress=False)
    host, port = infra.cassandra_contact()
    return Settings.from_env(
        {},
        backend="kafka-cassandra",
        cassandra_hosts=(host,),
        cassandra_port=port,
        cassandra_keyspace=f"cql_{uuid.uuid4().hex[:8]}",
    )


@pytest_asyncio.fixture(scope="module")
async def cql(cql_settings: Settings) -> AsyncIterator[CqlSession]:
    session = CqlSession(cql_settings, Metrics())
    await session.start()
    try:
        yield session
    finally:
        await asyncio.to_thread(
            session.session.execute, f"DROP KEYSPACE IF EXISTS {cql_settings.cassandra_keyspace}"
        )
        await session.stop()
