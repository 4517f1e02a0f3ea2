"""deploy/prometheus: promtool checks the config and the rules and runs the rule tests, and a
real Prometheus server scrapes a running engine and evaluates the rules against it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from tests.ops.conftest import DEPLOY
from tests.ops.promql import SCRAPE_SERIES, exported_names, metric_names, recorded_names
from tests.support import eventually
from timeline.app import Engine

PROM = DEPLOY / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
ALERTS = {
    "TimelineTargetDown",
    "TimelineIngestUnavailable",
    "TimelineHttpErrorRatioHigh",
    "TimelineConsumerLagGrowing",
    "TimelineDeliveryP99High",
    "TimelinePoisonEvents",
    "TimelineConsumerBlocked",
    "TimelineStoreErrors",
}


def run(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


def test_installer_is_a_fast_no_op_when_promtool_is_there(promtool: str) -> None:
    started = time.monotonic()
    result = run("sh", str(PROM / "install.sh"))
    assert_ok(result)
    assert time.monotonic() - started < 5
    assert result.stdout == ""


def test_promtool_check_config(promtool: str) -> None:
    result = run(promtool, "check", "config", str(CONFIG))
    assert_ok(result)
    # the config loads the rule files, and promtool checked each of them
    for path in RULE_FILES:
        assert path.name in result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    assert RULE_FILES, "no rule files in deploy/prometheus/rules"
    assert_ok(run(promtool, "check", "rules", *map(str, RULE_FILES)))


def test_promtool_test_rules(promtool: str) -> None:
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    result = run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert_ok(result)
    assert "FAILED" not in result.stdout + result.stderr


def test_promtool_test_rules_fails_on_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    """The rule tests can fail: the same alert tests with a firing alert expected as silent."""
    text = (PROM / "tests" / "alerts.test.yml").read_text()
    text = text.replace("../rules/", str(PROM / "rules") + "/")
    broken = yaml.safe_load(text)
    case = next(
        t for t in broken["tests"] if t["alert_rule_test"][-1]["alertname"] == "TimelineTargetDown"
    )
    case["alert_rule_test"][-1]["exp_alerts"] = []
    path = tmp_path / "broken.test.yml"
    path.write_text(yaml.safe_dump(broken))
    result = run(promtool, "test", "rules", str(path))
    assert result.returncode != 0
    assert "TimelineTargetDown" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    alerts = {
        r["alert"]
        for path in RULE_FILES
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert alerts == ALERTS
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert fired == ALERTS, f"never seen firing: {ALERTS - fired}"
    assert silent == ALERTS, f"never seen silent: {ALERTS - silent}"


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    readme = (DEPLOY / "README.md").read_text().lower()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
                anchor = rule["annotations"]["runbook"].split("#", 1)[1]
                assert anchor == rule["alert"].lower()
                assert f"### {rule['alert'].lower()}" in readme, f"no runbook for {rule['alert']}"


def test_rules_name_only_exported_metrics() -> None:
    allowed = exported_names() | SCRAPE_SERIES | recorded_names(RULE_FILES)
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                unknown = metric_names(rule["expr"]) - allowed
                assert not unknown, f"{rule.get('record') or rule.get('alert')}: {unknown}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def prometheus_server(binary: str, config: Path, storage: Path) -> AsyncIterator[str]:
    """A Prometheus server on a free loopback port; its base URL."""
    port = free_port()
    log_path = storage.parent / "prometheus.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(f"prometheus exited:\n{log_path.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/-/ready") as resp:
                        return resp.status == 200
                return False

            await poll(ready, lambda ok: ok, 30.0, lambda: log_path.read_text())
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def poll(
    probe: Callable[[], Awaitable[Any]],
    accept: Callable[[Any], bool],
    timeout_s: float,
    explain: Callable[[], str] = lambda: "",
) -> Any:
    """`eventually`, at the pace of a scrape interval."""
    return await eventually(probe, accept, timeout_s, explain, every_s=0.25)


@pytest.mark.integration
async def test_real_prometheus_scrapes_the_engine_and_evaluates_the_rules(
    engine: Engine, prometheus_binary: str, tmp_path: Path
) -> None:
    assert engine.app is not None
    server = TestServer(engine.app, host="127.0.0.1", port=free_port())
    await server.start_server()
    target = f"127.0.0.1:{server.port}"

    # the shipped config, pointed at this engine, scraping every second
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROM / "rules" / "*.yml")]
    job = config["scrape_configs"][0]
    job["static_configs"][0]["targets"] = [target]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    try:
        async with (
            prometheus_server(
                prometheus_binary, tmp_path / "prometheus.yml", tmp_path / "data"
            ) as prom,
            aiohttp.ClientSession() as http,
        ):

            async def query(expr: str) -> list[dict[str, Any]]:
                async with http.get(prom + "/api/v1/query", params={"query": expr}) as resp:
                    body = await resp.json()
                assert body["status"] == "success", body
                return list(body["data"]["result"])

            async def engine_get(path: str, expect: int) -> None:
                async with http.get(f"http://{target}{path}") as resp:
                    assert resp.status == expect, (path, resp.status, await resp.text())

            async def engine_post(path: str, body: dict[str, Any], expect: int) -> None:
                async with http.post(f"http://{target}{path}", json=body) as resp:
                    assert resp.status == expect, (path, resp.status, await resp.text())

            for _ in range(5):
                await engine_get("/healthz", 200)
            await engine_get("/readyz", 200)
            await engine_post("/v1/users", {"handle": f"prom{int(time.time()) % 10**8}"}, 201)

            def value(result: list[dict[str, Any]]) -> float:
                return sum(float(r["value"][1]) for r in result)

            up = await poll(lambda: query(f'up{{job="{job["job_name"]}"}}'), bool, 30.0)
            assert [r["metric"]["instance"] for r in up] == [target]
            assert value(up) == 1.0

            healthz = 'timeline_http_requests_total{route="/healthz", status="200"}'
            await poll(lambda: query(healthz), lambda r: value(r) >= 5, 30.0)
            appended = 'timeline_events_appended_total{type="user_registered"}'
            await poll(lambda: query(appended), lambda r: value(r) >= 1, 30.0)
            await poll(lambda: query("process_resident_memory_bytes"), bool, 30.0)

            # every name the engine exposes now is one engine/metrics.py registers
            async with http.get(prom + "/api/v1/label/__name__/values") as resp:
                names = set((await resp.json())["data"])
            timeline_names = {n for n in names if n.startswith("timeline_")}
            assert "timeline_http_request_seconds_bucket" in timeline_names
            assert timeline_names <= exported_names()

            # the rules load, evaluate without errors, and record from real scrapes
            async def rules() -> list[dict[str, Any]]:
                async with http.get(prom + "/api/v1/rules") as resp:
                    return [r for g in (await resp.json())["data"]["groups"] for r in g["rules"]]

            loaded = await poll(
                rules,
                lambda rs: rs and all(r.get("lastEvaluation", "0001").startswith("2") for r in rs),
                30.0,
            )
            assert {r["name"] for r in loaded if r["type"] == "alerting"} == ALERTS
            assert [r for r in loaded if r["health"] != "ok"] == []
            recorded = 'job_route_status:timeline_http_requests:rate1m{route="/healthz"}'
            await poll(lambda: query(recorded), bool, 30.0)
            await poll(lambda: query("job:timeline_http_requests_5xx:ratio_rate5m"), bool, 30.0)
            firing = await query('ALERTS{alertname="TimelineTargetDown"}')
            assert firing == []
    finally:
        await server.close()


def test_local_prometheus_scrapes_the_address_the_engine_reads(tmp_path: Path) -> None:
    """deploy/prometheus/local.sh hands prometheus the committed configuration with the
    engine's TIMELINE_HOST and TIMELINE_PORT in place of 127.0.0.1:8080."""
    stub = tmp_path / "bin" / "prometheus"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nfor a; do case $a in --config.file=*) cat "${a#*=}";; esac; done\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "TIMELINE_PORT": "18123"}
    done = subprocess.run(
        ["sh", str(PROM / "local.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["127.0.0.1:18123"]
