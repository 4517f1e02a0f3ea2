"""What the deployment files may set: TIMELINE_* variables that are real Settings fields."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from engine.config import PREFIX, Settings

SETTINGS_VARS = frozenset(PREFIX + f.name.upper() for f in dataclasses.fields(Settings))


def timeline_vars(env: Mapping[str, Any]) -> dict[str, str]:
    """The TIMELINE_* entries of an environment, as strings."""
    return {k: str(v) for k, v in env.items() if k.startswith(PREFIX)}


def unknown_vars(env: Mapping[str, Any]) -> set[str]:
    """TIMELINE_* names no Settings field reads (a typo the engine would silently ignore)."""
    return set(timeline_vars(env)) - SETTINGS_VARS


def replication(settings: Settings) -> dict[str, Any]:
    """The keyspace replication map the engine will create the keyspace with."""
    value = ast.literal_eval(settings.cassandra_replication)
    assert isinstance(value, dict)
    return value
