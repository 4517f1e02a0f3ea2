"""The ops tier: Prometheus rules and server, the Grafana dashboard, compose and k8s files.

The engine fixtures are the integration tier's (the real Kafka and Cassandra of
deploy/local); only the test that scrapes a running engine uses them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import backend_kind, engine, servers, settings

__all__ = ["backend_kind", "engine", "prometheus_binary", "promtool", "servers", "settings"]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INSTALLER = DEPLOY / "prometheus" / "install.sh"


def _ensure_prometheus_tools() -> None:
    """Install promtool and prometheus with deploy/prometheus/install.sh when missing."""
    if shutil.which("promtool") and shutil.which("prometheus"):
        return
    result = subprocess.run(
        ["sh", str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0 or not (shutil.which("promtool") and shutil.which("prometheus")):
        pytest.fail(
            "promtool/prometheus are not installed and deploy/prometheus/install.sh could not "
            f"install them (exit {result.returncode}). Install Debian's `prometheus` package "
            f"(apt-get install prometheus) and run again.\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def promtool() -> str:
    """The path of promtool, installed by deploy/prometheus/install.sh if it was missing."""
    _ensure_prometheus_tools()
    path = shutil.which("promtool")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The path of the prometheus server binary (same package as promtool)."""
    _ensure_prometheus_tools()
    path = shutil.which("prometheus")
    assert path is not None
    assert os.access(path, os.X_OK)
    return path
