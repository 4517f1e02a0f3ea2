"""Where the local infrastructure lives and how it is configured (env vars and flags)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

ServerName = Literal["kafka", "cassandra"]
SERVERS: tuple[ServerName, ...] = ("kafka", "cassandra")

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
    "TIMELINE_INFRA_CASSANDRA_HEAP_MB": ("cassandra_heap_mb", 2048),
    "TIMELINE_INFRA_CASSANDRA_TIMER_SLACK_US": ("cassandra_timer_slack_us", 1000),
    "TIMELINE_INFRA_TIMEOUT": ("timeout_s", 180),
}


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
    cassandra_heap_mb: int = 2048
    # How late the kernel may end the Cassandra threads' timed sleeps (procs.timer_slack)
    cassandra_timer_slack_us: int = 1000
    timeout_s: int = 180

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: int | None) -> Settings:
        """Defaults, then TIMELINE_INFRA_* env vars, then explicit overrides (flags)."""
        env = os.environ if env is None else env
        root = Path(env.get("TIMELINE_INFRA_DIR") or REPO_ROOT / ".infra").expanduser()
        values: dict[str, int] = {}
        for var, (field, _default) in ENV_INTS.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = _parse_int(var, raw)
        for field, value in overrides.items():
            if value is not None:
                values[field] = value
        settings = cls(root=root.resolve(), **values)
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
        if any(p > 65535 for p in ports):
            raise ConfigError(f"ports must be < 65536, got {ports}")

    def with_ports(self, ports: Mapping[str, int]) -> Settings:
        """A copy with some of the four ports replaced (keys are field names)."""
        return replace(
            self,
            kafka_port=ports.get("kafka_port", self.kafka_port),
            kafka_controller_port=ports.get("kafka_controller_port", self.kafka_controller_port),
            cassandra_port=ports.get("cassandra_port", self.cassandra_port),
            cassandra_storage_port=ports.get("cassandra_storage_port", self.cassandra_storage_port),
        )

    # ---- layout -----------------------------------------------------------------------------
    def jars(self, name: ServerName) -> Path:
        return self.root / "jars" / name

    def data(self, name: ServerName) -> Path:
        return self.root / "data" / name

    def conf(self, name: ServerName) -> Path:
        return self.root / "conf" / name

    def log(self, name: ServerName) -> Path:
        """The server's own log (log4j / logback)."""
        return self.root / "logs" / f"{name}.log"

    def out(self, name: ServerName) -> Path:
        """The JVM's stdout/stderr (crashes, JVM warnings)."""
        return self.root / "logs" / f"{name}.out"

    def pidfile(self, name: ServerName) -> Path:
        return self.root / "run" / f"{name}.pid"

    def statefile(self, name: ServerName) -> Path:
        return self.root / "run" / f"{name}.json"

    def lockfile(self) -> Path:
        return self.root / "run" / "infra.lock"

    def client_port(self, name: ServerName) -> int:
        return self.kafka_port if name == "kafka" else self.cassandra_port

    def listen_ports(self, name: ServerName) -> tuple[int, ...]:
        if name == "kafka":
            return (self.kafka_port, self.kafka_controller_port)
        return (self.cassandra_port, self.cassandra_storage_port)

    def heap_mb(self, name: ServerName) -> int:
        return self.kafka_heap_mb if name == "kafka" else self.cassandra_heap_mb


def pom(name: ServerName) -> Path:
    """The pom.xml (in the repository) that lists a server's runtime classpath."""
    return HERE / name / "pom.xml"


def _parse_int(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not an integer") from None
