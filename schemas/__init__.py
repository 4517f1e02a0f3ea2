"""Event schemas, the CQL schema, topic definitions and the OpenAPI document, as data files."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CQL_DIR = HERE / "cql"
EVENTS_FILE = HERE / "events.json"
OPENAPI_FILE = HERE / "openapi.json"


def cql_migrations() -> list[tuple[int, str, str]]:
    """(version, name, text) of every CQL migration, in version order."""
    found = []
    for path in sorted(CQL_DIR.glob("*.cql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.stem, path.read_text(encoding="utf-8")))
    return found
