"""deploy/compose: the YAML parses and keeps the invariants of a real three-node deployment.

No Docker engine runs here, so the file is checked, not started: three KRaft brokers with
replication factor 3 and min.insync.replicas 2, three Cassandra 5.0 nodes in one DC with
NetworkTopologyStrategy, a migrate job first, every TIMELINE_ variable a real setting,
a distinct worker id per ingest replica, and commands the `timeline` command accepts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config import Settings
from tests.ops.conftest import DEPLOY, REPO
from tests.ops.settings_check import SETTINGS_VARS, replication, timeline_vars, unknown_vars
from timeline.cli import API_PARTS, COMMANDS, access_warning, parser

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
PARTS = {"ingest", "readers", "fanout", "index"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def services(compose: dict[str, Any], image_prefix: str) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith(image_prefix)
    }


def engine_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if "build" in s}


def env(svc: dict[str, Any]) -> dict[str, str]:
    raw = svc.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def depends(svc: dict[str, Any]) -> dict[str, str]:
    raw = svc.get("depends_on", {})
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def test_three_kraft_brokers(compose: dict[str, Any]) -> None:
    brokers = services(compose, "apache/kafka:")
    assert len(brokers) == 3
    envs = {name: env(svc) for name, svc in brokers.items()}
    ids = {name: e["KAFKA_NODE_ID"] for name, e in envs.items()}
    assert len(set(ids.values())) == 3
    voters = {f"{ids[name]}@{name}:9093" for name in brokers}
    for name, e in envs.items():
        assert set(e["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert set(e["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert e["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert "CONTROLLER://:9093" in e["KAFKA_LISTENERS"]
    assert len({e["CLUSTER_ID"] for e in envs.values()}) == 1
    volumes = [v for svc in brokers.values() for v in svc["volumes"]]
    assert len({v.split(":")[0] for v in volumes}) == 3, "each broker needs its own volume"


def test_kafka_replication_factor_3_and_min_isr_2(compose: dict[str, Any]) -> None:
    for name, svc in services(compose, "apache/kafka:").items():
        e = env(svc)
        assert e["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert e["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert e["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert e["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3", name
        assert e["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2", name
        assert e["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", name
        assert e["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false", name
    # the engine creates its topics itself; it sets min.insync.replicas=2 when RF > 1
    for name, svc in engine_services(compose).items():
        settings = Settings.from_env(timeline_vars(env(svc)))
        assert settings.kafka_replication_factor == 3, name
        assert settings.backend == "kafka-cassandra", f"{name} runs the embedded default"


def test_three_cassandra_5_nodes_joining_one_at_a_time(compose: dict[str, Any]) -> None:
    nodes = services(compose, "cassandra:")
    assert len(nodes) == 3
    for name, svc in nodes.items():
        assert str(svc["image"]).startswith("cassandra:5.0"), name
        e = env(svc)
        assert e["CASSANDRA_ENDPOINT_SNITCH"] == "GossipingPropertyFileSnitch"
        assert set(e["CASSANDRA_SEEDS"].split(",")) <= set(nodes)
    assert len({env(s)["CASSANDRA_CLUSTER_NAME"] for s in nodes.values()}) == 1
    assert len({env(s)["CASSANDRA_DC"] for s in nodes.values()}) == 1
    # a node bootstraps only after another one is healthy: a chain through all three
    starters = [n for n, s in nodes.items() if not set(depends(s)) & set(nodes)]
    assert len(starters) == 1
    for name, svc in nodes.items():
        for other, condition in depends(svc).items():
            assert other in nodes and condition == "service_healthy", name


def test_keyspace_uses_network_topology_with_3_replicas(compose: dict[str, Any]) -> None:
    nodes = services(compose, "cassandra:")
    dc = env(next(iter(nodes.values())))["CASSANDRA_DC"]
    for name, svc in engine_services(compose).items():
        settings = Settings.from_env(timeline_vars(env(svc)))
        assert replication(settings) == {"class": "NetworkTopologyStrategy", dc: 3}, name
        assert set(settings.cassandra_hosts) == set(nodes), name
        hosts = {h.split(":")[0] for h in settings.kafka_bootstrap.split(",")}
        assert hosts == set(services(compose, "apache/kafka:")), name


def test_every_timeline_variable_is_a_setting(compose: dict[str, Any]) -> None:
    named = set()
    for name, svc in compose["services"].items():
        e = env(svc)
        assert not unknown_vars(e), f"{name}: not Settings fields: {unknown_vars(e)}"
        named |= set(timeline_vars(e))
    assert named and named <= SETTINGS_VARS
    # the check itself catches a typo
    assert unknown_vars({"TIMELINE_KAFKA_REPLICATION": "3"}) == {"TIMELINE_KAFKA_REPLICATION"}


def test_engine_services_and_their_commands(compose: dict[str, Any]) -> None:
    engine = engine_services(compose)
    parts = sorted(command(s)[0] for s in engine.values())
    assert parts == ["fanout", "index", "ingest", "ingest", "migrate", "readers"]
    assert len({s["image"] for s in engine.values()}) == 1, "one image for every part"
    for name, svc in engine.items():
        parser().parse_args(command(svc))  # the `timeline` command accepts it
        assert command(svc)[0] in set(COMMANDS) | {"migrate"}, name
        assert svc["build"]["dockerfile"] == "deploy/compose/Dockerfile", name
        assert (COMPOSE_DIR / svc["build"]["context"]).resolve() == REPO, name
        Settings.from_env(timeline_vars(env(svc)))  # valid settings, or ValueError
        if command(svc)[0] != "migrate":
            assert depends(svc) == {"migrate": "service_completed_successfully"}, name
            assert "readyz" in " ".join(svc["healthcheck"]["test"]), name
            assert Settings.from_env(timeline_vars(env(svc))).host == "0.0.0.0", name


def test_migrate_waits_for_every_broker_and_node(compose: dict[str, Any]) -> None:
    migrate = next(s for s in engine_services(compose).values() if command(s) == ["migrate"])
    clusters = set(services(compose, "apache/kafka:")) | set(services(compose, "cassandra:"))
    assert depends(migrate) == dict.fromkeys(clusters, "service_healthy")
    assert migrate["restart"] == "no"


def test_ingest_replicas_lease_their_worker_ids(compose: dict[str, Any]) -> None:
    ingest = {n: s for n, s in engine_services(compose).items() if command(s)[0] == "ingest"}
    assert len(ingest) >= 2
    for svc in ingest.values():
        Settings.from_env(timeline_vars(env(svc)))
        assert "TIMELINE_WORKER_ID" not in env(svc), "worker ids are leased, not set by hand"


def test_dockerfile_installs_the_project() -> None:
    text = (COMPOSE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert re.search(r"pip install\b.*\s\.$", text, re.M), "the image must `pip install .`"
    assert 'ENTRYPOINT ["timeline"]' in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}
    # `up` on the embedded backend needs a folder its uid can write: made, owned, a volume
    assert "TIMELINE_DATA_DIR=/var/lib/timeline/data" in text
    assert f"chown {user[-1]}:{user[-1]} /var/lib/timeline" in text
    assert re.search(r"^WORKDIR /var/lib/timeline$", text, re.M)
    assert re.search(r"^VOLUME /var/lib/timeline$", text, re.M)
    ignored = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text().split()
    assert ".infra" in ignored and ".git" in ignored and ".venv" in ignored


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_compose_prometheus_scrapes_every_engine_process(
    compose: dict[str, Any], promtool: str
) -> None:
    config_path = COMPOSE_DIR / "prometheus.yml"
    result = subprocess.run(
        [promtool, "check", "config", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    prom = compose["services"]["prometheus"]
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in prom["volumes"]
    config = yaml.safe_load(config_path.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    targets = {
        t: job["job_name"]
        for job in config["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    engine = {n for n, s in engine_services(compose).items() if command(s)[0] != "migrate"}
    assert {f"{n}:8080" for n in engine} <= set(targets)
    for name in engine:
        job = targets[f"{name}:8080"]
        assert re.fullmatch("timeline.*", job)
        assert job == f"timeline-{command(compose['services'][name])[0]}"


def test_grafana_provisions_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if ":ro" in v)
    assert mounts["../grafana/timeline.json"].startswith("/var/lib/grafana/dashboards/")
    providers = yaml.safe_load((COMPOSE_DIR / "grafana" / "dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((COMPOSE_DIR / "grafana" / "datasources.yml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    assert Path(COMPOSE_DIR / "../grafana/timeline.json").resolve().is_file()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose env file (comments and blank lines skipped)."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def test_tokens_come_from_an_env_file_that_is_never_committed(compose: dict[str, Any]) -> None:
    engine = engine_services(compose)
    for name, svc in engine.items():
        assert svc["env_file"] == ["timeline.env"], name
        assert not {"TIMELINE_TOKENS", "TIMELINE_AUTH"} & set(env(svc)), f"{name}: inline"
    secret_file = COMPOSE_DIR / "timeline.env"
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(secret_file)])
    assert ignored.returncode == 0, "timeline.env must be in .gitignore"
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--error-unmatch", str(secret_file)],
        capture_output=True,
    )
    assert tracked.returncode != 0, "timeline.env must never be committed"
    ignored_in_image = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text().split()
    assert "deploy/compose/timeline.env" in ignored_in_image, "keep the tokens out of the image"


def test_an_unedited_env_file_refuses_to_serve_the_api(compose: dict[str, Any]) -> None:
    example = read_env_file(COMPOSE_DIR / "timeline.env.example")
    assert example == {"TIMELINE_TOKENS": ""}, "the example holds no secret"
    tokens = {"TIMELINE_TOKENS": "web=0123456789abcdef0123:read+write+dm"}
    served = 0
    for name, svc in engine_services(compose).items():
        parts = COMMANDS.get(command(svc)[0], ())
        unedited = Settings.from_env(timeline_vars(env(svc)) | example)
        edited = Settings.from_env(timeline_vars(env(svc)) | tokens)
        assert access_warning(edited, parts) is None, name
        if API_PARTS & set(parts):
            served += 1
            with pytest.raises(ValueError, match="refusing to serve the API without tokens"):
                access_warning(unedited, parts)
    assert served == 3  # ingest x2 and readers
