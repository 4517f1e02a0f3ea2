"""Two ingest processes race hundreds of registrations of the same names, one is SIGKILLed,
the engine restarts: every handle and phone number maps to one user whose event the log holds
once, or is free; no two acknowledged registrations share a name; no view or registry row has
a user the log has not."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from deploy.local import infra
from engine import registrations
from engine.config import Settings
from engine.events import PhoneRegistered, UserRegistered
from engine.text import handle_key
from tests.integration.conftest import api_of, running_engine
from tests.integration.test_registrations import logged_events
from tests.support import Api, eventually, free_port, table_rows

HANDLES = 300  # each registered twice at once
PHONES = 100  # each claimed by two users at once
USERS = 40
KILL_AFTER_ACKS = 5  # registrations the victim acknowledged


def fresh_settings(kind: str, data_dir: Path) -> Settings:
    """Settings of a run of its own: a data folder, or a keyspace, topics and groups."""
    common: dict[str, Any] = {"backend": kind, "kafka_partitions": 3, "rate_limits": "off"}
    if kind == "embedded":
        return Settings.from_env({}, data_dir=str(data_dir), **common)
    infra.ensure_up(progress=False)
    run = uuid.uuid4().hex[:8]
    host, port = infra.cassandra_contact()
    return Settings.from_env(
        {},
        kafka_bootstrap=infra.kafka_bootstrap(),
        cassandra_hosts=(host,),
        cassandra_port=port,
        cassandra_keyspace=f"rc_{run}",
        kafka_topic_prefix=f"rc-{run}.",
        consumer_group_prefix=f"rc-{run}-",
        cassandra_request_timeout_s=30.0,  # creating a keyspace on a busy machine
        **common,
    )


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `timeline` process these settings."""
    env = dict(os.environ, TIMELINE_LOG_LEVEL="WARNING")
    defaults = Settings()
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if value != getattr(defaults, f.name):
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            env[f"TIMELINE_{f.name.upper()}"] = text
    return env


def start(settings: Settings, role: str, port: int, worker_id: int) -> subprocess.Popen[bytes]:
    """`timeline <role>` on these settings, in a process of its own."""
    cmd = [sys.executable, "-m", "timeline", role, "--port", str(port)]
    return subprocess.Popen(cmd, env=dict(child_env(settings), TIMELINE_WORKER_ID=str(worker_id)))


async def wait_ready(
    proc: subprocess.Popen[bytes], session: aiohttp.ClientSession, url: str
) -> None:
    async def probe() -> int:
        if proc.poll() is not None:
            raise AssertionError(f"the engine exited with {proc.returncode}")
        try:
            async with session.get(f"{url}/readyz") as resp:
                return resp.status
        except aiohttp.ClientError:
            return 0

    await eventually(probe, lambda status: status == 200, 120)


@dataclasses.dataclass
class Storm:
    """The names tried, and what the processes acknowledged: name -> user ids."""

    handles: list[str]
    phones: list[str]
    acked_users: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    acked_phones: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def acked(self) -> int:
        return sum(map(len, self.acked_users.values()))


async def storm_then_kill(
    victim: subprocess.Popen[bytes], urls: tuple[str, str], session: aiohttp.ClientSession
) -> Storm:
    """Register each handle and phone number on both processes at once; SIGKILL the victim
    (the first) once it acknowledged a few, with hundreds in flight."""
    users = []
    for i in range(USERS):
        body = {"handle": f"o{uuid.uuid4().hex[:12]}"}
        async with session.post(f"{urls[i % 2]}/v1/users", json=body) as resp:
            users.append((await resp.json())["id"])
    tag = uuid.uuid4().hex[:6]
    storm = Storm(
        [f"k{tag}{i}" for i in range(HANDLES)],
        [f"+7703{uuid.uuid4().int % 10**7:07d}" for _ in range(PHONES)],
    )

    victim_acks = [0]

    async def register(url: str, handle: str) -> None:
        try:
            async with session.post(f"{url}/v1/users", json={"handle": handle}) as resp:
                if resp.status == 201:
                    storm.acked_users.setdefault(handle, []).append((await resp.json())["id"])
                    victim_acks[0] += url == urls[0]
                    if victim_acks[0] == KILL_AFTER_ACKS:
                        victim.send_signal(signal.SIGKILL)
        except aiohttp.ClientError:
            pass  # killed before it answered: not acknowledged

    async def claim(url: str, user: str, phone: str) -> None:
        try:
            async with session.put(f"{url}/v1/users/{user}/phone", json={"phone": phone}) as resp:
                if resp.status == 200:
                    storm.acked_phones.setdefault(phone, []).append(user)
        except aiohttp.ClientError:
            pass

    # even names race on both processes; odd ones only on the victim, whose pending claims
    # the restart must settle
    tries = [register(url, h) for i, h in enumerate(storm.handles) for url in urls[: 2 - i % 2]]
    tries += [
        claim(url, users[(i + k) % USERS], p)
        for i, p in enumerate(storm.phones)
        for k, url in zip((0, 7), urls[: 2 - i % 2], strict=False)
    ]
    random.Random(7).shuffle(tries)  # handles and phones in flight together
    await asyncio.gather(*tries)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    return storm


async def check_handles(api: Api, engine: Any, storm: Storm) -> None:
    """Every handle is free, or maps to one user whose event the log holds."""
    rows = await table_rows(engine, "SELECT handle_key, user_id, state FROM handle_claims")
    claims = {key: int(uid) for key, uid, _ in rows}
    pending = sum(state == "pending" for _, _, state in rows)
    owners: dict[str, int] = {}
    for handle in storm.handles:
        found = await api.call("GET", f"/v1/users/by_handle/{handle}", 200, raise_for=False)
        if found:
            owners[handle] = int(found["id"])
            assert claims[handle_key(handle)] == owners[handle]
        else:
            assert handle_key(handle) not in claims
    for handle, user_ids in storm.acked_users.items():
        assert [owners[handle]] == [int(u) for u in user_ids]
    logged: dict[str, set[tuple[int, int]]] = {}
    for e in await logged_events(engine):
        if isinstance(e, UserRegistered):
            logged.setdefault(handle_key(e.handle), set()).add((e.event_id, e.user_id))
    for handle in storm.handles:
        found = {uid for _, uid in logged.get(handle_key(handle), set())}
        assert found == ({owners[handle]} if handle in owners else set()), handle
        assert len(logged.get(handle_key(handle), ())) == (1 if handle in owners else 0)
    free = [h for h in storm.handles if h not in owners]
    for handle in free:  # free for good: the next registration gets it
        await api.call("POST", "/v1/users", 201, json={"handle": handle})
    print(
        f"\nhandles: {len(owners)} taken ({pending} pending after the kill), {len(free)} free, "
        f"{storm.acked()} acknowledged"
    )


async def check_phones(engine: Any, storm: Storm) -> None:
    """Every phone number is free, or belongs to one user whose phone_registered is logged."""
    rows = await table_rows(engine, "SELECT phone, user_id, state FROM phones")
    claims = {phone: int(uid) for phone, uid, _ in rows}
    pending = sum(state == "pending" for _, _, state in rows)
    owners = {p: await registrations.phone_owner(engine.backend, p) for p in storm.phones}
    logged: dict[str, set[tuple[int, int]]] = {}
    for e in await logged_events(engine):
        if isinstance(e, PhoneRegistered):
            logged.setdefault(e.phone, set()).add((e.event_id, e.user_id))
    for phone, owner in owners.items():
        assert claims.get(phone) == owner
        assert {uid for _, uid in logged.get(phone, set())} == ({owner} if owner else set())
        assert len(logged.get(phone, ())) == (1 if owner else 0)
    for phone, user_ids in storm.acked_phones.items():
        assert [owners[phone]] == [int(u) for u in user_ids]
    taken = sum(o is not None for o in owners.values())
    print(f"phones: {taken} taken ({pending} pending after the kill) of {len(owners)}")


async def check_registry(engine: Any) -> None:
    """No registered user, claim or users-projection row that the log does not have."""
    logged = await logged_events(engine)
    users = {e.user_id for e in logged if isinstance(e, UserRegistered)}
    # a claim may still be pending when its event is in the log: the next to meet it marks it
    registry = await table_rows(engine, "SELECT user_id FROM user_registry")
    assert {int(r[0]) for r in registry} <= users
    claims = await table_rows(engine, "SELECT user_id FROM handle_claims")
    assert {int(r[0]) for r in claims} <= users

    async def projected() -> set[int]:
        return {int(r[0]) for r in await table_rows(engine, "SELECT user_id FROM users")}

    await eventually(projected, lambda found: found == users, 120)


@pytest.mark.parametrize("kind", ["embedded", "kafka-cassandra"])
async def test_sigkill_amid_registrations_leaves_each_name_to_one_logged_user(
    kind: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kind, tmp_path / "data")
    ports = free_port(), free_port()
    urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
    victim = start(settings, "up", ports[0], 0)
    peer = start(settings, "ingest", ports[1], 1)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await wait_ready(victim, session, urls[0])
            await wait_ready(peer, session, urls[1])
            storm = await storm_then_kill(victim, urls, session)
    finally:
        for proc in (victim, peer):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    async with running_engine(settings) as engine, api_of(engine) as api:  # the restart
        await check_handles(api, engine, storm)
        await check_phones(engine, storm)
        await check_registry(engine)
