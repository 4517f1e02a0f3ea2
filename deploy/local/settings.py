"""Where the local infrastructure lives and how it is configured (env vars and flags)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

ServerName = Literal["kafka", "cassandra"]
SERVERS: tuple[ServerName, ...] = ("kafka", "cassandra")
# A node of a server: the server's own name on one node ("kafka"), else the server's name and
# the node's number from 1 ("kafka-2": the second broker, on the second address).
NodeName = str
MAX_NODES = 9

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
HOST = "127.0.0.1"

# env var -> (Settings field, default)
ENV_INTS: dict[str, tuple[str, int]] = {
    "TIMELINE_INFRA_KAFKA_PORT": ("kafka_port", 9092),
    "TIMELINE_INFRA_KAFKA_CONTROLLER_PORT": ("kafka_controller_port", 9093),
    "TIMELINE_INFRA_KAFKA_HEAP_MB": ("kafka_heap_mb", 512),
    "TIMELINE_INFRA_CASSANDRA_PORT": ("cassandra_port", 9042),
    "TIMELINE_INFRA_CASSANDRA_STORAGE_PORT": ("cassandra_storage_port", 7000),
    "TIMELINE_INFRA_CASSANDRA_JMX_PORT": ("cassandra_jmx_port", 7199),
    "TIMELINE_INFRA_CASSANDRA_HEAP_MB": ("cassandra_heap_mb", 2048),
    "TIMELINE_INFRA_CASSANDRA_TIMER_SLACK_US": ("cassandra_timer_slack_us", 1000),
    "TIMELINE_INFRA_TIMEOUT": ("timeout_s", 180),
    "TIMELINE_INFRA_NODES": ("nodes", 1),
}
# The Kafka release the local brokers run (TIMELINE_INFRA_KAFKA_VERSION): any 4.x or 3.9.x
# on Maven Central; deploy/local/README.md says why this one.
KAFKA_VERSION = "4.4.0"
# Heaps of a cluster's nodes unless set: three of each fit beside the engine on 24 GiB.
CLUSTER_HEAP_MB = {"kafka_heap_mb": 512, "cassandra_heap_mb": 1024}


class ConfigError(ValueError):
    """A setting from the environment or the command line is not usable."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the local infrastructure, resolved once."""

    root: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap_mb: int = 512
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    # JMX for nodetool, on 127.0.0.1 only: node N on this port + N - 1
    cassandra_jmx_port: int = 7199
    cassandra_heap_mb: int = 2048
    # How late the kernel may end the Cassandra threads' timed sleeps (procs.timer_slack)
    cassandra_timer_slack_us: int = 1000
    timeout_s: int = 180
    # Nodes of each server; node n listens on hosts[n - 1] (the ports are the same on each)
    nodes: int = 1
    hosts: tuple[str, ...] = ()
    kafka_version: str = KAFKA_VERSION

    def __post_init__(self) -> None:
        if not self.hosts:
            object.__setattr__(self, "hosts", default_hosts(self.nodes))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: int | None) -> Settings:
        """Defaults, then TIMELINE_INFRA_* env vars, then explicit overrides (flags). The
        number of nodes, when neither sets it, is that of the cluster the folder last ran."""
        env = os.environ if env is None else env
        root = Path(env.get("TIMELINE_INFRA_DIR") or REPO_ROOT / ".infra").expanduser().resolve()
        values: dict[str, int] = {}
        for var, (field, _default) in ENV_INTS.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = _parse_int(var, raw)
        for field, value in overrides.items():
            if value is not None:
                values[field] = value
        recorded = recorded_layout(root)
        if "nodes" not in values:
            values["nodes"] = recorded[0] if recorded else 1
        if values["nodes"] > 1:
            for field, mb in CLUSTER_HEAP_MB.items():
                values.setdefault(field, mb)
        hosts = tuple(
            h.strip() for h in env.get("TIMELINE_INFRA_HOSTS", "").split(",") if h.strip()
        )
        if not hosts and recorded and recorded[0] == values["nodes"]:
            hosts = recorded[1]
        version = env.get("TIMELINE_INFRA_KAFKA_VERSION", "").strip() or KAFKA_VERSION
        settings = cls(root=root, hosts=hosts, kafka_version=version, **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        ports = [self.kafka_port, self.kafka_controller_port]
        ports += [self.cassandra_port, self.cassandra_storage_port]
        if len(set(ports)) != len(ports):
            raise ConfigError(f"ports must all differ, got {ports}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and value <= 0:
                raise ConfigError(f"{f.name} must be positive, got {value}")
        jmx = set(range(self.cassandra_jmx_port, self.cassandra_jmx_port + self.nodes))
        if jmx & set(ports):
            raise ConfigError(f"the JMX ports {sorted(jmx)} overlap the others, {ports}")
        ports += sorted(jmx)
        if any(p > 65535 for p in ports):
            raise ConfigError(f"ports must be < 65536, got {ports}")
        if not re.fullmatch(r"(3\.9|[4-9]\.\d+)\.\d+", self.kafka_version):
            raise ConfigError(
                f"TIMELINE_INFRA_KAFKA_VERSION must be a Kafka release of 3.9 or later, like "
                f"{KAFKA_VERSION} or 3.9.2; got {self.kafka_version!r}"
            )
        if self.nodes > MAX_NODES:
            raise ConfigError(f"nodes must be 1..{MAX_NODES}, got {self.nodes}")
        if len(self.hosts) < self.nodes or len(set(self.hosts)) != len(self.hosts):
            raise ConfigError(
                f"{self.nodes} node(s) need as many distinct addresses "
                f"(TIMELINE_INFRA_HOSTS), got {list(self.hosts)}"
            )

    # ---- nodes ------------------------------------------------------------------------------
    def node_names(self, server: ServerName) -> list[NodeName]:
        """A server's nodes: its own name alone, or name-1 .. name-N."""
        if self.nodes == 1:
            return [server]
        return [f"{server}-{i}" for i in range(1, self.nodes + 1)]

    def all_nodes(self) -> list[NodeName]:
        return [n for server in SERVERS for n in self.node_names(server)]

    def host(self, node: NodeName) -> str:
        """The loopback address a node listens on."""
        return self.hosts[node_index(node) - 1]

    def hosts_of(self, server: ServerName) -> list[str]:
        return [self.host(n) for n in self.node_names(server)]

    def bootstrap(self) -> str:
        """Every broker's host:port, comma-separated (what a Kafka client is given)."""
        return ",".join(f"{h}:{self.kafka_port}" for h in self.hosts_of("kafka"))

    def with_ports(self, ports: Mapping[str, int]) -> Settings:
        """A copy with some of the four ports replaced (keys are field names)."""
        return replace(
            self,
            kafka_port=ports.get("kafka_port", self.kafka_port),
            kafka_controller_port=ports.get("kafka_controller_port", self.kafka_controller_port),
            cassandra_port=ports.get("cassandra_port", self.cassandra_port),
            cassandra_storage_port=ports.get("cassandra_storage_port", self.cassandra_storage_port),
        )

    # ---- layout (per node) -------------------------------------------------------------------
    def jars(self, server: ServerName) -> Path:
        """A server's classpath folder: one per Kafka release, so switching back and forth
        fetches nothing twice."""
        if server == "kafka":
            return self.root / "jars" / f"kafka-{self.kafka_version}"
        return self.root / "jars" / server

    def release(self, server: ServerName) -> str:
        """The release a server's pom is resolved at ("" for Cassandra: its pom fixes it)."""
        return self.kafka_version if server == "kafka" else ""

    @property
    def kafka_legacy(self) -> bool:
        """Kafka before 4.0: logging through reload4j (log4j 1) instead of log4j 2."""
        return int(self.kafka_version.split(".")[0]) < 4

    def data(self, node: NodeName) -> Path:
        return self.root / "data" / node

    def conf(self, node: NodeName) -> Path:
        return self.root / "conf" / node

    def log(self, node: NodeName) -> Path:
        """The node's own log (log4j / logback)."""
        return self.root / "logs" / f"{node}.log"

    def out(self, node: NodeName) -> Path:
        """The JVM's stdout/stderr (crashes, JVM warnings)."""
        return self.root / "logs" / f"{node}.out"

    def pidfile(self, node: NodeName) -> Path:
        return self.root / "run" / f"{node}.pid"

    def statefile(self, node: NodeName) -> Path:
        return self.root / "run" / f"{node}.json"

    def lockfile(self) -> Path:
        return self.root / "run" / "infra.lock"

    def client_port(self, node: NodeName) -> int:
        return self.kafka_port if server_of(node) == "kafka" else self.cassandra_port

    def listen_ports(self, node: NodeName) -> tuple[int, ...]:
        if server_of(node) == "kafka":
            return (self.kafka_port, self.kafka_controller_port)
        return (self.cassandra_port, self.cassandra_storage_port)

    def jmx_port(self, node: NodeName) -> int:
        """A Cassandra node's JMX port (nodetool), on 127.0.0.1."""
        return self.cassandra_jmx_port + node_index(node) - 1

    def heap_mb(self, node: NodeName) -> int:
        return self.kafka_heap_mb if server_of(node) == "kafka" else self.cassandra_heap_mb


def server_of(node: NodeName) -> ServerName:
    """The server a node runs ("kafka-2" -> "kafka")."""
    name = node.partition("-")[0]
    if name == "kafka":
        return "kafka"
    if name == "cassandra":
        return "cassandra"
    raise ConfigError(f"unknown node {node!r}; expected kafka, cassandra or one of them-N")


def node_index(node: NodeName) -> int:
    """A node's number from 1 ("kafka" is 1, "kafka-2" is 2)."""
    server_of(node)
    _, dash, number = node.partition("-")
    if not dash:
        return 1
    if not number.isdigit() or not 1 <= int(number) <= MAX_NODES:
        raise ConfigError(f"unknown node {node!r}; numbers run from 1 to {MAX_NODES}")
    return int(number)


def default_hosts(nodes: int) -> tuple[str, ...]:
    """127.0.0.1 .. 127.0.0.N: the loopback range needs no setup on Linux."""
    return tuple(f"127.0.0.{i}" for i in range(1, nodes + 1))


def layout_file(root: Path) -> Path:
    """Where `up` records how many nodes the folder's servers run on."""
    return root / "run" / "layout.json"


def recorded_layout(root: Path) -> tuple[int, tuple[str, ...]] | None:
    """(nodes, hosts) of the layout `up` last started in this folder, if any."""
    try:
        data = json.loads(layout_file(root).read_text())
        nodes, hosts = data["nodes"], tuple(data["hosts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(nodes, int) or nodes < 1 or not all(isinstance(h, str) for h in hosts):
        return None
    return nodes, hosts


def pom(name: ServerName) -> Path:
    """The pom.xml (in the repository) that lists a server's runtime classpath."""
    return HERE / name / "pom.xml"


def _parse_int(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not an integer") from None
