"""The local cluster's layout (deploy/local): node names, addresses, each node's own files and
configuration, and which nodes a command reaches. No JVM starts here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.local import cassandra_node, infra, jars, kafka_node
from deploy.local.settings import (
    KAFKA_VERSION,
    ConfigError,
    Settings,
    layout_file,
    node_index,
    server_of,
)

pytestmark = pytest.mark.unit


def cluster(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TIMELINE_INFRA_DIR": str(tmp_path), **env}, nodes=3)


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_one_node_keeps_its_names_and_address(tmp_path: Path) -> None:
    one = Settings.from_env({"TIMELINE_INFRA_DIR": str(tmp_path)})
    assert one.nodes == 1 and one.all_nodes() == ["kafka", "cassandra"]
    assert one.host("kafka") == "127.0.0.1" and one.bootstrap() == "127.0.0.1:9092"
    assert one.data("cassandra") == tmp_path.resolve() / "data" / "cassandra"
    assert one.cassandra_heap_mb == 2048


def test_a_cluster_puts_node_n_on_its_own_loopback_address(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    assert three.node_names("kafka") == ["kafka-1", "kafka-2", "kafka-3"]
    assert three.hosts_of("cassandra") == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert three.bootstrap() == "127.0.0.1:9092,127.0.0.2:9092,127.0.0.3:9092"
    assert three.pidfile("cassandra-2") == tmp_path.resolve() / "run" / "cassandra-2.pid"
    assert len({three.data(n) for n in three.all_nodes()}) == 6  # each its own data
    assert (three.kafka_heap_mb, three.cassandra_heap_mb) == (512, 1024)  # six fit in memory
    other = cluster(tmp_path, TIMELINE_INFRA_HOSTS="127.0.1.1,127.0.1.2,127.0.1.3")
    assert other.host("kafka-3") == "127.0.1.3"


def test_too_few_or_repeated_addresses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="distinct addresses"):
        cluster(tmp_path, TIMELINE_INFRA_HOSTS="127.0.0.1,127.0.0.2")
    with pytest.raises(ConfigError, match="distinct addresses"):
        cluster(tmp_path, TIMELINE_INFRA_HOSTS="127.0.0.1,127.0.0.1,127.0.0.2")


def test_node_names_parse_and_refuse() -> None:
    assert (server_of("kafka-2"), node_index("kafka-2")) == ("kafka", 2)
    assert (server_of("cassandra"), node_index("cassandra")) == ("cassandra", 1)
    for bad in ("zookeeper-1", "kafka-0", "kafka-x", "kafka-10"):
        with pytest.raises(ConfigError):
            node_index(bad)


def test_kafka_nodes_form_one_quorum_of_three_voters(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    second = props(kafka_node.server_properties(three, "kafka-2"))
    assert second["node.id"] == "2"
    assert second["controller.quorum.voters"] == (
        "1@127.0.0.1:9093,2@127.0.0.2:9093,3@127.0.0.3:9093"
    )
    assert second["listeners"] == "PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093"
    assert second["advertised.listeners"] == "PLAINTEXT://127.0.0.2:9092"
    assert second["offsets.topic.replication.factor"] == "3"
    assert second["min.insync.replicas"] == "2"
    assert second["log.dirs"] == str(three.data("kafka-2"))
    one = props(kafka_node.server_properties(Settings(root=tmp_path), "kafka"))
    assert one["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert one["offsets.topic.replication.factor"] == "1" and one["min.insync.replicas"] == "1"


def test_kafka_nodes_share_one_cluster_id_until_purged(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    first = kafka_node.cluster_id(three)
    assert kafka_node.cluster_id(three) == first
    three.data("kafka-1").mkdir(parents=True)
    kafka_node.forget_cluster_id(three)  # a node still has data: kept
    assert kafka_node.cluster_id(three) == first
    three.data("kafka-1").rmdir()
    kafka_node.forget_cluster_id(three)  # every node purged: a new cluster
    assert kafka_node.cluster_id(three) != first


def test_cassandra_nodes_split_the_ring_and_are_all_seeds(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    tokens = [cassandra_node.initial_token(three, n) for n in three.node_names("cassandra")]
    assert tokens == sorted(set(tokens)) and tokens[0] == -(2**63)
    gaps = {b - a for a, b in zip(tokens, [*tokens[1:], tokens[0] + 2**64], strict=True)}
    assert max(gaps) - min(gaps) <= 2  # equal shares of the ring
    yaml = cassandra_node.cassandra_yaml(three, "cassandra-3")
    assert "listen_address: 127.0.0.3" in yaml and "rpc_address: 127.0.0.3" in yaml
    assert 'seeds: "127.0.0.1:7000,127.0.0.2:7000,127.0.0.3:7000"' in yaml
    assert "auto_bootstrap: false" in yaml
    assert "initial_token: 0" in cassandra_node.cassandra_yaml(Settings(root=tmp_path), "cassandra")


def test_commands_reach_a_server_s_nodes_or_one_node(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    assert infra._select(three, None) == three.all_nodes()
    assert infra._select(three, "cassandra") == ["cassandra-1", "cassandra-2", "cassandra-3"]
    assert infra._select(three, "kafka-2") == ["kafka-2"]
    with pytest.raises(ConfigError, match="unknown server or node"):
        infra._select(three, "kafka-4")
    one = Settings(root=tmp_path)
    with pytest.raises(ConfigError):
        infra._select(one, "kafka-2")


def test_the_folder_remembers_its_layout(tmp_path: Path) -> None:
    three = cluster(tmp_path, TIMELINE_INFRA_HOSTS="127.0.2.1,127.0.2.2,127.0.2.3")
    infra._check_layout(three)
    assert json.loads(layout_file(three.root).read_text())["nodes"] == 3
    again = Settings.from_env({"TIMELINE_INFRA_DIR": str(tmp_path)})  # status, down: no flag
    assert again.nodes == 3 and again.host("cassandra-2") == "127.0.2.2"
    assert Settings.from_env({"TIMELINE_INFRA_DIR": str(tmp_path)}, nodes=1).nodes == 1


def test_the_kafka_release_is_a_setting_with_a_classpath_each(tmp_path: Path) -> None:
    env = {"TIMELINE_INFRA_DIR": str(tmp_path)}
    now = Settings.from_env(env)
    assert now.kafka_version == KAFKA_VERSION and not now.kafka_legacy
    old = Settings.from_env({**env, "TIMELINE_INFRA_KAFKA_VERSION": "3.9.2"})
    assert old.kafka_legacy and old.jars("kafka") != now.jars("kafka")
    assert old.jars("cassandra") == now.jars("cassandra")
    assert jars._maven_properties(old, "kafka") == ["-Dkafka.version=3.9.2", "-Dkafka.legacy=true"]
    assert jars._maven_properties(now, "kafka") == [f"-Dkafka.version={KAFKA_VERSION}"]
    assert jars._maven_properties(now, "cassandra") == []
    assert jars.pom_hash("kafka", "3.9.2") != jars.pom_hash("kafka", KAFKA_VERSION)
    for bad in ("3.8.1", "4", "latest", "4.1"):
        with pytest.raises(ConfigError, match="TIMELINE_INFRA_KAFKA_VERSION"):
            Settings.from_env({**env, "TIMELINE_INFRA_KAFKA_VERSION": bad})


def test_each_kafka_release_logs_through_its_own_log4j(tmp_path: Path) -> None:
    env = {"TIMELINE_INFRA_DIR": str(tmp_path), "TIMELINE_INFRA_CDS": "0"}
    now = Settings.from_env(env)
    old = Settings.from_env({**env, "TIMELINE_INFRA_KAFKA_VERSION": "3.9.2"})
    new_cmd = kafka_node.server_cmd(now, "kafka", now.jars("kafka"))
    old_cmd = kafka_node.server_cmd(old, "kafka", old.jars("kafka"))
    assert any(a.startswith("-Dlog4j2.configurationFile=") for a in new_cmd)
    assert not any(a.startswith("-Dlog4j.configuration=") for a in new_cmd)
    assert any(a.startswith("-Dlog4j.configuration=") for a in old_cmd)
    assert f"-cp {now.jars('kafka')}/*" in " ".join(new_cmd)
    conf = kafka_node.write_config(now, "kafka")
    assert str(now.log("kafka")) in (conf / "log4j2.properties").read_text()


def test_each_cassandra_node_has_a_jmx_port_of_its_own_for_nodetool(tmp_path: Path) -> None:
    three = cluster(tmp_path)
    assert [three.jmx_port(n) for n in three.node_names("cassandra")] == [7199, 7200, 7201]
    cmd = cassandra_node.server_cmd(three, "cassandra-3", three.jars("cassandra"))
    assert "-Dcassandra.jmx.local.port=7201" in cmd
    tool = cassandra_node.nodetool_cmd(three, "cassandra-2", three.jars("cassandra"), ["status"])
    assert tool[-6:] == [
        "org.apache.cassandra.tools.NodeTool",
        "-h",
        "127.0.0.1",
        "-p",
        "7200",
        "status",
    ]
    with pytest.raises(ConfigError, match="JMX"):
        cluster(tmp_path, TIMELINE_INFRA_CASSANDRA_JMX_PORT="9091")  # 9091-9093 meets Kafka's
