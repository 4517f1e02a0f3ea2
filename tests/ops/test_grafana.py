"""deploy/grafana/timeline.json: valid dashboard JSON whose queries name only exported metrics."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import DEPLOY
from tests.ops.promql import SCRAPE_SERIES, exported_names, metric_names

DASHBOARD = DEPLOY / "grafana" / "timeline.json"
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*(?P<label>\w+)\s*\)\s*$")

# What an on-call engineer opens first, and the series each needs.
ON_CALL = {
    "ingest rate": "timeline_events_appended_total",
    "append errors": "timeline_append_errors_total",
    "append latency": "timeline_append_seconds_bucket",
    "delivery latency": "timeline_delivery_seconds_bucket",
    "consumer lag": "timeline_consumer_lag",
    "consumer throughput": "timeline_consumer_events_total",
    "read latency": "timeline_http_request_seconds_bucket",
    "answers by status": "timeline_http_requests_total",
    "error codes": "timeline_errors_total",
    "fan-out rows": "timeline_fanout_rows_written_total",
    "batch sizes": "timeline_consumer_batch_records_bucket",
    "batch time": "timeline_consumer_batch_seconds_bucket",
    "poison events": "timeline_poison_events_total",
    "store errors": "timeline_store_errors_total",
    "targets up": "up",
    "cpu": "process_cpu_seconds_total",
    "memory": "process_resident_memory_bytes",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # panels inside collapsed rows
    return out


def panel_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (p["title"], t["expr"])
        for p in panels(dashboard)
        if p["type"] != "row"
        for t in p["targets"]
    ]


def variable_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for v in dashboard["templating"]["list"]:
        if v["type"] != "query":
            continue
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        match = LABEL_VALUES.match(query)
        assert match, f"variable {v['name']}: not label_values(expr, label): {query}"
        out.append((f"${v['name']}", match["expr"]))
    return out


def test_dashboard_is_grafana_json(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels(dashboard):
        assert p["type"] in {"row", "timeseries", "stat", "gauge", "table", "heatmap"}
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, p["title"]
        assert grid["h"] > 0 and grid["y"] >= 0, p["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in panels(dashboard):
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_prometheus_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}", v["name"]


def test_every_expr_names_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    allowed = exported_names() | SCRAPE_SERIES
    exprs = panel_exprs(dashboard) + variable_exprs(dashboard)
    assert len(exprs) > 10
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr}"
        assert names <= allowed, f"{where}: not exported by the engine: {names - allowed}"


def test_the_name_check_catches_an_unknown_metric() -> None:
    allowed = exported_names() | SCRAPE_SERIES
    expr = 'sum by (job) (rate(timeline_tweets_total{job=~"$job"}[$__rate_interval]))'
    assert metric_names(expr) - allowed == {"timeline_tweets_total"}


def test_the_on_call_panels_are_there(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(e) for _, e in panel_exprs(dashboard)))
    missing = {what: name for what, name in ON_CALL.items() if name not in used}
    assert not missing, f"no panel for {missing}"
    statuses = " ".join(e for _, e in panel_exprs(dashboard))
    assert 'status="503"' in statuses, "no panel for ingest 503s"
    titles = " ".join(p["title"].lower() for p in panels(dashboard))
    for word in ("delivery", "lag", "p99", "cpu", "memory", "batch", "503"):
        assert word in titles, word


def test_every_expr_parses_as_promql(
    dashboard: dict[str, Any], promtool: str, tmp_path: Path
) -> None:
    """promtool parses each query (Grafana's variables replaced by values they can take)."""
    rules = []
    for i, (_, expr) in enumerate(panel_exprs(dashboard) + variable_exprs(dashboard)):
        concrete = (
            expr.replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$job", "timeline.*")
            .replace("$instance", ".*")
        )
        assert "$" not in concrete, f"unhandled Grafana variable in {expr}"
        rules.append({"record": f"dashboard:expr_{i}", "expr": concrete})
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
