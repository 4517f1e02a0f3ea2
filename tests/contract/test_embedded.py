"""What only the embedded backend promises: files under data_dir, group commit, crash safety."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.adapters.embedded import EmbeddedBackend
from engine.config import Settings
from engine.errors import LogUnavailable, Unavailable
from engine.events import GRAPH_TOPIC, TWEETS_TOPIC, decode
from engine.metrics import Metrics
from engine.ports import LogRecord
from tests.contract.conftest import PARTITIONS
from tests.contract.helpers import new_ids, noop, now_us, posted, user

REPO = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 2000


def embedded_settings(data_dir: Path) -> Settings:
    return Settings.from_env(
        {}, backend="embedded", data_dir=str(data_dir), kafka_partitions=PARTITIONS
    )


@pytest_asyncio.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    async with EmbeddedBackend(embedded_settings(tmp_path / "a" / "b"), Metrics()) as backend:
        yield backend


async def read_all(backend: EmbeddedBackend) -> list[LogRecord]:
    records: list[LogRecord] = []
    async with backend.consumer("audit", [TWEETS_TOPIC, GRAPH_TOPIC], noop) as consumer:
        while batch := await consumer.poll(max_records=5000, timeout_ms=50):
            records += batch
    return records


def assert_dense(records: list[LogRecord]) -> None:
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r in records:
        offsets[(r.topic, r.partition)].append(r.offset)
    for found in offsets.values():
        assert found == list(range(len(found)))


async def test_every_file_lives_under_the_data_dir(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    await embedded.log.append(posted(1))
    names = {p.name for p in (tmp_path / "a" / "b").iterdir()}
    assert {"log.sqlite3", "store.sqlite3"} <= names


async def test_an_unusable_data_dir_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    backend = EmbeddedBackend(embedded_settings(blocker / "data"), Metrics())
    with pytest.raises(Unavailable) as failure:
        await backend.start()
    assert failure.value.__cause__ is not None
    await backend.stop()


async def test_stores_survive_a_restart(tmp_path: Path) -> None:
    alice = user()
    async with EmbeddedBackend(embedded_settings(tmp_path), Metrics()) as backend:
        await backend.users.put_user(alice, now_us())
        await backend.stop()
    async with EmbeddedBackend(embedded_settings(tmp_path), Metrics()) as backend:
        assert await backend.users.get_user(alice.id) == alice


async def test_concurrent_appends_share_transactions(embedded: EmbeddedBackend) -> None:
    authors = new_ids(20)
    before = embedded.log_db.writer.transactions
    results = await asyncio.gather(*(embedded.log.append(posted(a)) for a in authors * 25))
    assert len(set(results)) == 500  # a distinct position each
    assert embedded.log_db.writer.transactions - before < 100
    assert len(await read_all(embedded)) == 500


async def test_a_group_has_one_member_per_process(embedded: EmbeddedBackend) -> None:
    first = embedded.consumer("g", [TWEETS_TOPIC], noop)
    await first.start()
    with pytest.raises(LogUnavailable):
        await embedded.consumer("g", [TWEETS_TOPIC], noop).start()
    await first.stop()
    async with embedded.consumer("g", [TWEETS_TOPIC], noop):
        pass


async def test_two_processes_appending_keep_offsets_dense(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    authors = new_ids(10)
    async with (
        EmbeddedBackend(settings, Metrics()) as one,
        EmbeddedBackend(settings, Metrics()) as two,
    ):
        await asyncio.gather(*(b.log.append(posted(a)) for a in authors * 20 for b in (one, two)))
        records = await read_all(one)
    assert len(records) == 400
    assert_dense(records)


async def test_a_sigkill_loses_no_acknowledged_append(tmp_path: Path) -> None:
    acked = await append_until_killed(tmp_path / "data")
    assert len(acked) >= ACKS_BEFORE_KILL
    async with EmbeddedBackend(embedded_settings(tmp_path / "data"), Metrics()) as backend:
        records = await read_all(backend)
    found = {(r.topic, r.partition, r.offset): decode(r.value).event_id for r in records}
    assert {position: found.get(position) for position in acked} == acked
    assert_dense(records)


async def append_until_killed(data_dir: Path) -> dict[tuple[str, int, int], int]:
    """Run crash_child, SIGKILL it mid-stream; every (topic, partition, offset) it acknowledged."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.contract.crash_child", str(data_dir),
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    assert await child.stdout.readline() == b"ready\n"
    lines = [await child.stdout.readline() for _ in range(ACKS_BEFORE_KILL)]
    child.send_signal(signal.SIGKILL)
    lines += (await child.stdout.read()).splitlines(keepends=True)
    assert await child.wait() == -signal.SIGKILL
    acked = {}
    for line in lines:
        if line.endswith(b"\n"):  # a line cut by the kill was not seen as acknowledged
            topic, partition, offset, event_id = line.decode().split()
            acked[(topic, int(partition), int(offset))] = int(event_id)
    return acked


async def test_a_log_short_of_free_space_takes_no_writes(tmp_path: Path) -> None:
    settings = dataclasses.replace(embedded_settings(tmp_path), log_min_free_bytes=2**62)
    async with EmbeddedBackend(settings, Metrics()) as backend:
        assert await backend.log.ping()  # it answers,
        assert not await backend.log.writable()  # but has no room for what comes
