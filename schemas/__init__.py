"""Event schemas, CQL and SQLite schemas, topic definitions and the OpenAPI document, as files."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CQL_DIR = HERE / "cql"
SQLITE_DIR = HERE / "sqlite"
EVENTS_FILE = HERE / "events.json"
OPENAPI_FILE = HERE / "openapi.json"


def cql_migrations() -> list[tuple[int, str, str]]:
    """(version, name, text) of every CQL migration, in version order."""
    found = []
    for path in sorted(CQL_DIR.glob("*.cql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.stem, path.read_text(encoding="utf-8")))
    return found


def sqlite_schema(*names: str) -> str:
    """The DDL of the embedded backend's schemas/sqlite/<name>.sql files, in the order given.

    Every statement is idempotent (CREATE ... IF NOT EXISTS), so the text runs at every open.
    """
    return "".join((SQLITE_DIR / f"{name}.sql").read_text(encoding="utf-8") for name in names)
