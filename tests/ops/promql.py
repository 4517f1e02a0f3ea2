"""Metric names in PromQL expressions, and the names the engine really exports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from engine.metrics import Metrics

# Series Prometheus adds itself for every target.
SCRAPE_SERIES = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
)
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_NAME = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords and labels left out)."""
    s = _STRING.sub('""', expr)
    s = _GRAFANA_VAR.sub("1m", s)
    s = _MATCHERS.sub(" ", s)
    s = _RANGE.sub(" ", s)
    s = _GROUPING.sub(" ", s)
    return {m for m in _NAME.findall(s) if m.lower() not in _KEYWORDS}


def exported_names() -> set[str]:
    """Every sample name an engine process can expose on /metrics, even before first use."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.update({family.name + "_total", family.name + "_created"})
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_count", "_sum", "_created"))
        else:
            names.add(family.name)
    return names


def rule_groups(paths: list[Path]) -> list[dict[str, Any]]:
    """The rule groups of Prometheus rule files."""
    groups: list[dict[str, Any]] = []
    for path in paths:
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def recorded_names(paths: list[Path]) -> set[str]:
    """The series names the recording rules in these files define."""
    return {r["record"] for g in rule_groups(paths) for r in g["rules"] if "record" in r}
