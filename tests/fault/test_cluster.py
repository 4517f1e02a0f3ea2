"""Three Kafka brokers and three Cassandra nodes (`timeline infra up --nodes 3`), the engine on
them with replication 3 everywhere, and one node of each SIGKILLed under load: nothing
acknowledged is lost or doubled, no read fails, and the node rejoins."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy

from deploy.local import infra
from engine.config import Settings
from engine.events import TWEETS_TOPIC
from tests.fault.conftest import (
    CLUSTER_ENV,
    CLUSTER_HOSTS,
    Servers,
    cluster_settings,
    engine_api,
    fault_env,
    group_lag,
    logged_tweet_ids,
)
from tests.fault.test_faults import Load, every_timeline_complete, follow_graph
from tests.support import Api, eventually
from timeline.app import Engine

CLIENTS = 3  # posting loops at once
AUTHORS = 8  # their tweets land in every partition of the tweets topic


@pytest_asyncio.fixture
async def on_cluster(cluster: Servers) -> AsyncIterator[tuple[Engine, Api]]:
    """The whole engine in this process on the cluster."""
    async with engine_api(cluster_settings()) as running:
        yield running


async def partitions(settings: Settings) -> list[dict]:
    """The tweets topic's partitions: leader, replicas, in-sync replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([settings.kafka_topic_prefix + TWEETS_TOPIC])
        return list(topic["partitions"])
    finally:
        await admin.close()


async def topic_config(settings: Settings) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        topic = settings.kafka_topic_prefix + TWEETS_TOPIC
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()


def rows_on_each_node(settings: Settings, cql: str) -> list[list[tuple]]:
    """The rows a query finds on each node alone: that node coordinates at consistency ONE,
    and as it holds every partition (replication 3 of 3 nodes) it reads its own copy."""
    found = []
    for host in CLUSTER_HOSTS:
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]))
        with Cluster(
            [host], port=settings.cassandra_port, protocol_version=5,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        ) as cql_cluster:  # fmt: skip
            session = cql_cluster.connect()
            found.append([tuple(row) for row in session.execute(cql)])
    return found


async def posting(load: Load, clients: int = CLIENTS, pace_s: float = 0.05) -> None:
    """`clients` loops posting, together one post every `pace_s` seconds."""
    await asyncio.gather(*(load.run(pace_s=pace_s * clients) for _ in range(clients)))


def waited_during(load: Load, since: float) -> tuple[float, int]:
    """The longest a post waited for its answer among those sent after `since`, and how many
    were sent."""
    after = [seconds for sent, seconds in load.waits if sent >= since]
    return (max(after) if after else 0.0), len(after)


async def test_the_cluster_replicates_every_topic_and_table_three_times(
    on_cluster: tuple[Engine, Api],
) -> None:
    engine, api = on_cluster
    with fault_env(CLUSTER_ENV):
        assert infra.is_healthy()
        assert infra.kafka_bootstrap() == engine.settings.kafka_bootstrap
    parts = await partitions(engine.settings)
    assert len(parts) == engine.settings.kafka_partitions
    assert all(len(p["replicas"]) == 3 and len(p["isr"]) == 3 for p in parts)
    assert len({p["leader"] for p in parts}) == 3  # leadership spread over the brokers
    assert (await topic_config(engine.settings))["min.insync.replicas"] == "2"
    keyspace = engine.settings.cassandra_keyspace
    for replication in rows_on_each_node(
        engine.settings,
        f"SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = '{keyspace}'",
    ):
        [(options,)] = replication
        assert options["replication_factor"] == "3"
    user = await api.user()
    assert (await api.client.get(f"/v1/users/{user['id']}")).status == 200


async def test_a_broker_killed_under_posting_costs_waiting_not_tweets(
    on_cluster: tuple[Engine, Api], cluster: Servers
) -> None:
    engine, api = on_cluster
    authors, readers = await follow_graph(api, AUTHORS)
    load = Load(api, authors, max_total=600)
    task = asyncio.create_task(posting(load))
    await eventually(lambda: asyncio.sleep(0, load.total()), lambda n: n >= 30)
    leaders = Counter(p["leader"] for p in await partitions(engine.settings))
    victim = f"kafka-{leaders.most_common(1)[0][0]}"
    cluster.kill(victim)
    killed = time.monotonic()
    await asyncio.sleep(15)  # past the broker session timeout: the victim is fenced
    acked_while_down = len([t for t in load.acked_at if t > killed])
    restart_s = await cluster.start(victim)
    back = time.monotonic()
    isr = await eventually(
        lambda: partitions(engine.settings),
        lambda ps: all(len(p["isr"]) == 3 for p in ps),
        120,
    )
    rejoined_s = time.monotonic() - back
    await asyncio.sleep(3)
    load.stop.set()
    await task
    longest, sent = waited_during(load, killed)
    acked = {i for ids in load.acked.values() for i in ids}
    in_log = await logged_tweet_ids(engine.settings)
    assert acked <= in_log, f"{len(acked - in_log)} acknowledged tweets are not in the log"
    drained_s, extras = await every_timeline_complete(api, readers, load)
    assert acked_while_down > 0, "no post was acknowledged while one broker of three was down"
    print(
        f"\nFAULT cluster broker-killed ({victim}, led {leaders.most_common(1)[0][1]} of "
        f"{len(isr)} partitions): acked={len(acked)} acked_while_down={acked_while_down} "
        f"refused_503={load.refused} longest_wait_s={longest:.1f} (of {sent} posts sent after "
        f"the kill) restart_s={restart_s:.1f} isr_rejoined_after_s={rejoined_s:.1f} "
        f"refused_but_logged={extras} timelines_complete_after_s={drained_s:.1f}"
    )


async def test_a_cassandra_node_killed_under_load_fails_no_read(
    on_cluster: tuple[Engine, Api], cluster: Servers
) -> None:
    engine, api = on_cluster
    authors, readers = await follow_graph(api, AUTHORS)
    group = engine.settings.consumer_group_prefix + "fanout"
    load = Load(api, authors, max_total=600)
    statuses: Counter[int] = Counter()
    done = asyncio.Event()

    async def reading() -> None:
        i = 0
        while not done.is_set():
            reader = readers[i % len(readers)]
            resp = await api.client.get(f"/v1/users/{reader['id']}/home_timeline")
            statuses[resp.status] += 1
            await resp.read()
            i += 1
            await asyncio.sleep(0.02)

    posts = asyncio.create_task(posting(load))
    reads = asyncio.create_task(reading())
    await eventually(lambda: asyncio.sleep(0, load.total()), lambda n: n >= 30)
    cluster.kill("cassandra-2")
    killed = time.monotonic()
    await asyncio.sleep(15)
    lag_while_down = await eventually(
        lambda: group_lag(engine.settings, group), lambda lag: lag <= 10, 60
    )
    restart_s = await cluster.start("cassandra-2")
    await asyncio.sleep(3)
    load.stop.set()
    await posts
    done.set()
    await reads
    longest, sent = waited_during(load, killed)
    assert not [s for s in statuses if s >= 500], f"reads answered {dict(statuses)}"
    complete_s, _ = await every_timeline_complete(api, readers, load)
    keyspace = engine.settings.cassandra_keyspace
    ids = ",".join(r["id"] for r in readers)
    query = f"SELECT user_id, tweet_id FROM {keyspace}.home_timeline WHERE user_id IN ({ids})"
    agreed = await eventually(
        lambda: asyncio.to_thread(rows_on_each_node, engine.settings, query),
        lambda per_node: set(per_node[0]) == set(per_node[1]) == set(per_node[2]),
        120,
    )
    repaired = time.monotonic()
    with fault_env(CLUSTER_ENV):  # the runbook's repair, after an outage longer than hints
        repair = await asyncio.to_thread(infra.nodetool, "cassandra-2", ["repair", keyspace])
    assert repair.returncode == 0, repair.stdout + repair.stderr
    repair_s = time.monotonic() - repaired
    print(
        f"\nFAULT cluster cassandra-killed (cassandra-2): repair_s={repair_s:.1f} "
        f"acked={load.total()} "
        f"refused_503={load.refused} longest_post_wait_s={longest:.1f} (of {sent}) "
        f"reads={sum(statuses.values())} statuses={dict(statuses)} "
        f"fanout_lag_while_down={lag_while_down} restart_s={restart_s:.1f} "
        f"home_rows_on_each_node={len(agreed[0])} (checked {complete_s:.1f}s after)"
    )


async def test_a_rolling_restart_under_load_loses_nothing(
    on_cluster: tuple[Engine, Api], cluster: Servers
) -> None:
    """Every broker, then every Cassandra node, stopped (SIGTERM) and started again one at a
    time, as an operator upgrading would: each broker only once every partition is fully in
    sync again, each Cassandra node once the previous one answers."""
    engine, api = on_cluster
    authors, readers = await follow_graph(api, AUTHORS)
    load = Load(api, authors, max_total=750)  # under the home timeline's cap of 800
    statuses: Counter[int] = Counter()
    done = asyncio.Event()

    async def reading() -> None:
        i = 0
        while not done.is_set():
            resp = await api.client.get(
                f"/v1/users/{readers[i % len(readers)]['id']}/home_timeline"
            )
            statuses[resp.status] += 1
            await resp.read()
            i += 1
            await asyncio.sleep(0.05)

    posts = asyncio.create_task(posting(load, pace_s=0.25))
    reads = asyncio.create_task(reading())
    await eventually(lambda: asyncio.sleep(0, load.total()), lambda n: n >= 20)
    started = time.monotonic()
    steps: list[str] = []
    for node in [f"kafka-{i}" for i in (1, 2, 3)] + [f"cassandra-{i}" for i in (1, 2, 3)]:
        begun = time.monotonic()
        try:
            with fault_env(CLUSTER_ENV):
                await asyncio.to_thread(infra.ensure_down, node)
            await cluster.start(node)
            if node.startswith("kafka"):
                await eventually(
                    lambda: partitions(engine.settings),
                    lambda ps: all(len(p["isr"]) == 3 for p in ps),
                    120,
                )
        except Exception as e:
            raise AssertionError(f"the restart stuck at {node} (after {steps}): {e!r}") from e
        steps.append(f"{node} {time.monotonic() - begun:.0f}s")
    rolled_s = time.monotonic() - started
    await asyncio.sleep(2)
    load.stop.set()
    await posts
    done.set()
    await reads
    acked = {i for ids in load.acked.values() for i in ids}
    during = sorted(seconds for sent, seconds in load.waits if sent >= started)
    p99 = during[int(0.99 * (len(during) - 1))] if during else 0.0
    print(
        f"\nFAULT cluster rolling-restart: {rolled_s:.0f}s ({', '.join(steps)}) "
        f"acked={len(acked)} refused_503={load.refused} post_p99_s={p99:.2f} "
        f"post_max_s={during[-1] if during else 0:.2f} (of {len(during)} posts) "
        f"reads={sum(statuses.values())} statuses={dict(statuses)}",
        flush=True,
    )
    missing = acked - await logged_tweet_ids(engine.settings)
    assert not missing, f"{len(missing)} acknowledged tweets are not in the log"
    assert not [s for s in statuses if s >= 500], f"reads answered {dict(statuses)}"
    complete_s, extras = await every_timeline_complete(api, readers, load)
    print(
        f"FAULT rolling-restart: refused_but_logged={extras} "
        f"timelines_complete_after_s={complete_s:.1f}"
    )
