"""The local infrastructure launcher (deploy/local/infra.py).

The default-folder tests only read state: other tests share those servers. The lifecycle test
runs its own Kafka in a temporary TIMELINE_INFRA_DIR on other ports (jars copied from the
default folder, so no maven), and is marked `fault` because it starts and kills servers.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from deploy.local import infra, kafka_node, procs
from deploy.local.jars import is_complete
from deploy.local.settings import REPO_ROOT, ConfigError, Settings


def test_settings_from_env(tmp_path: Path) -> None:
    env = {"TIMELINE_INFRA_DIR": str(tmp_path), "TIMELINE_INFRA_KAFKA_PORT": "19092"}
    settings = Settings.from_env(env, cassandra_heap_mb=256)
    assert settings.root == tmp_path.resolve()
    assert (settings.kafka_port, settings.cassandra_port) == (19092, 9042)
    assert settings.cassandra_heap_mb == 256
    assert settings.pidfile("kafka") == tmp_path.resolve() / "run" / "kafka.pid"
    with pytest.raises(ConfigError):
        Settings.from_env({"TIMELINE_INFRA_KAFKA_PORT": "x"})
    with pytest.raises(ConfigError):
        Settings.from_env({"TIMELINE_INFRA_KAFKA_PORT": "9042"})


def test_default_root_is_repo_dot_infra() -> None:
    assert Settings.from_env({}).root == REPO_ROOT / ".infra"


def test_generated_kafka_config(tmp_path: Path) -> None:
    props = kafka_node.server_properties(Settings(root=tmp_path, kafka_port=1234), "kafka")
    assert "auto.create.topics.enable=false" in props
    assert "listeners=PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:9093" in props
    assert "offsets.topic.replication.factor=1" in props
    cluster_id = kafka_node.new_cluster_id()
    assert len(cluster_id) == 22 and not cluster_id.startswith("-")


def test_stale_pid_file_is_detected(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    settings.pidfile("kafka").parent.mkdir(parents=True)
    with subprocess.Popen(["sleep", "30"]) as sleeper:  # a live pid that is not our java
        settings.pidfile("kafka").write_text(f"{sleeper.pid}\n")
        state = infra.inspect(settings, "kafka", probe=False)
        sleeper.kill()
    assert state.pid is None and state.stale_pid == sleeper.pid


def test_spawned_process_and_its_threads_get_the_timer_slack(tmp_path: Path) -> None:
    code = "import threading, time; threading.Thread(target=time.sleep, args=(5,)).start()"
    pid = procs.spawn(["python3", "-c", code + "; time.sleep(5)"], tmp_path / "out", tmp_path, 700)
    try:
        deadline = time.monotonic() + 5
        threads: list[str] = []
        while len(threads) < 2 and time.monotonic() < deadline:  # the second thread started
            threads = list(Path(f"/proc/{pid}/task").iterdir())
            time.sleep(0.05)
        assert len(threads) == 2
        for thread in threads:
            assert Path(f"/proc/{thread.name}/timerslack_ns").read_text().strip() == "700000"
    finally:
        subprocess.run(["kill", str(pid)], check=False)
    assert Path("/proc/self/timerslack_ns").read_text().strip() != "700000"  # put back


def test_timer_slack_setting(tmp_path: Path) -> None:
    env = {"TIMELINE_INFRA_DIR": str(tmp_path)}
    assert Settings.from_env(env).cassandra_timer_slack_us == 1000
    env["TIMELINE_INFRA_CASSANDRA_TIMER_SLACK_US"] = "50"
    assert Settings.from_env(env).cassandra_timer_slack_us == 50
    with pytest.raises(ConfigError):
        Settings.from_env({**env, "TIMELINE_INFRA_CASSANDRA_TIMER_SLACK_US": "0"})


@pytest.mark.integration
def test_shared_servers_are_healthy() -> None:
    infra.ensure_up()
    assert infra.is_healthy()
    assert infra.kafka_bootstrap().startswith("127.0.0.1:")
    host, port = infra.cassandra_contact()
    assert host == "127.0.0.1" and port > 0
    assert infra.server_pid("kafka") is not None
    started = time.monotonic()
    assert infra.main(["up", "--no-progress"]) == 0  # idempotent and quick when already up
    assert time.monotonic() - started < 15
    assert infra.main(["status"]) == 0


@pytest.mark.fault
def test_kafka_lifecycle_in_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = Settings.from_env()
    if not is_complete(shared.jars("kafka"), "kafka", shared.release("kafka")):
        pytest.skip("run `timeline infra up` once first (fills the jar cache)")
    shutil.copytree(shared.jars("kafka"), tmp_path / "jars" / shared.jars("kafka").name)
    monkeypatch.setenv("TIMELINE_INFRA_DIR", str(tmp_path))
    monkeypatch.setenv("TIMELINE_INFRA_KAFKA_PORT", "29092")
    monkeypatch.setenv("TIMELINE_INFRA_KAFKA_CONTROLLER_PORT", "29093")
    monkeypatch.setenv("TIMELINE_INFRA_CASSANDRA_PORT", "29042")
    monkeypatch.setenv("TIMELINE_INFRA_CASSANDRA_STORAGE_PORT", "27000")
    monkeypatch.setenv("TIMELINE_INFRA_CASSANDRA_JMX_PORT", "27199")
    monkeypatch.setenv("TIMELINE_INFRA_CDS", "0")
    try:
        infra.ensure_up(only="kafka", timeout_s=120)
        assert infra.kafka_bootstrap() == "127.0.0.1:29092"
        assert infra.is_healthy(only="kafka")
        assert not infra.is_healthy()  # this folder's Cassandra is not running
        assert infra.main(["status"]) == 1
        infra.ensure_up(only="kafka")  # second call: no-op
        pid = infra.server_pid("kafka")
        assert pid is not None
    finally:
        assert infra.main(["down", "--purge"]) == 0
    assert infra.server_pid("kafka") is None
    assert not (tmp_path / "run" / "kafka.pid").exists()
    assert not (tmp_path / "data" / "kafka").exists()
    assert infra.main(["down"]) == 0  # nothing running: fine
