"""The embedded store file of an older version: its claims gain the new columns and count as
registered (they kept no event: their registration was appended, or lost, before)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine import registrations
from engine.adapters.embedded import EmbeddedBackend
from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Claim
from engine.records import User

OLD_SCHEMA = """
CREATE TABLE handle_claims (handle_key TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE user_registry (
    user_id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE phones (phone TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
INSERT INTO handle_claims VALUES ('oldie', 7);
INSERT INTO user_registry VALUES (7, 'Oldie', 'Old One', 1700000000000);
INSERT INTO phones VALUES ('+77010000007', 7);
"""


async def test_claims_of_an_older_store_file_count_as_registered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "store.sqlite3") as conn:
        conn.executescript(OLD_SCHEMA)
    settings = Settings.from_env({}, backend="embedded", data_dir=str(data))
    async with EmbeddedBackend(settings, Metrics()) as backend:
        oldie = User(7, "Oldie", "Old One", 1_700_000_000_000)
        assert await backend.registry.handle_claim("OLDIE") == Claim(7, None, True)
        assert await backend.registry.user_claim(7) == Claim(7, None, True)
        assert await backend.registry.registered_user(7) == oldie
        assert await registrations.registered_user(backend, 7) == oldie
        assert await registrations.handle_owner(backend, "oldie") == 7
        assert await backend.phones.phone_claim("+77010000007") == Claim(7, None, True)
        assert await registrations.phone_owner(backend, "+77010000007") == 7
