"""The embedded backend's DDL: schemas/sqlite/*.sql, every file used, idempotent, shipped.

The backend runs its schema text at every open, so running it twice must change nothing, and
a non-editable install has the files only if pyproject lists them as package data.
"""

import sqlite3
import tomllib
from pathlib import Path

import pytest

from engine.adapters.embedded.backend import STORE_SCHEMAS
from schemas import SQLITE_DIR, sqlite_schema

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_every_sqlite_file_belongs_to_the_log_or_the_store() -> None:
    assert {p.stem for p in SQLITE_DIR.glob("*.sql")} == {"log", *STORE_SCHEMAS}


@pytest.mark.parametrize("names", [("log",), STORE_SCHEMAS], ids=["log", "store"])
def test_the_schema_runs_twice_on_a_fresh_file_and_creates_the_same_tables(
    names: tuple[str, ...],
) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(sqlite_schema(*names))
    first = tables(conn)
    conn.executescript(sqlite_schema(*names))
    assert tables(conn) == first
    expected = (
        {"records", "group_offsets"}
        if names == ("log",)
        else {
            "tombstones",
            "home_timeline",
            "idempotency_keys",
            "phones",
            "search_tweets",
            "list_members",
            "check_follows",
        }
    )
    assert expected <= first


def test_the_sqlite_files_are_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "sqlite/*.sql" in project["tool"]["setuptools"]["package-data"]["schemas"]
