"""The embedded backend: the log and every store port on SQLite files in one data folder.

backend wires the adapters; sqlite runs each file's writer and reader threads; lww emulates
Cassandra's last-write-wins cells and tombstones; rows holds the query helpers; every other
module is the adapter of one port. The tables are schemas/sqlite/*.sql.
"""

from __future__ import annotations

from engine.adapters.embedded.backend import EmbeddedBackend, create_backend

__all__ = ["EmbeddedBackend", "create_backend"]
