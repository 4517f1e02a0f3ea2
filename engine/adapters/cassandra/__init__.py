"""The Cassandra adapters: the CQL session and one adapter per store port, all on that session.

Every adapter here is an OnSession: it shares the one CqlSession its backend owns, starts it
if needed and never closes it.
"""

from __future__ import annotations

from engine.adapters.cassandra.activity import CassandraActivity
from engine.adapters.cassandra.checks import CassandraChecks
from engine.adapters.cassandra.graph import CassandraGraph
from engine.adapters.cassandra.index import CassandraIndex
from engine.adapters.cassandra.leases import CassandraLeases
from engine.adapters.cassandra.lists import CassandraLists
from engine.adapters.cassandra.messages import CassandraMessages
from engine.adapters.cassandra.phones import CassandraPhones
from engine.adapters.cassandra.registry import CassandraRegistry
from engine.adapters.cassandra.search import CassandraSearch
from engine.adapters.cassandra.session import CqlSession
from engine.adapters.cassandra.timelines import CassandraTimelines
from engine.adapters.cassandra.trends import CassandraTrends
from engine.adapters.cassandra.users import CassandraUsers

__all__ = [
    "CassandraActivity",
    "CassandraChecks",
    "CassandraGraph",
    "CassandraIndex",
    "CassandraLeases",
    "CassandraLists",
    "CassandraMessages",
    "CassandraPhones",
    "CassandraRegistry",
    "CassandraSearch",
    "CassandraTimelines",
    "CassandraTrends",
    "CassandraUsers",
    "CqlSession",
]
