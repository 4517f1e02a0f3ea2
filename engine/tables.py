"""The tables each projection writes: what a rebuild empties with Backend.truncate.

One definition for the projectors, which name their tables, and for the adapters, which
accept these names only. A few are partitioning aids of the Cassandra schema that the
embedded store does without (engine/adapters/embedded.py, CASSANDRA_ONLY).
"""

from __future__ import annotations

TIMELINE_TABLES = (
    "users",
    "users_by_handle",
    "following",
    "followers",
    "follow_changes",
    "graph_counts",
    "tweets",
    "user_timeline",
    "home_timeline",
    "celebrities",
)
INDEX_TABLES = ("hashtag_timeline", "hashtag_days", "mention_timeline")
LIST_TABLES = ("lists", "list_members", "lists_by_member", "list_timeline", "list_author_tweets")
MESSAGE_TABLES = ("messages_by_user", "conversations")
SEARCH_TABLES = ("search_tweets", "search_buckets")
TREND_TABLES = ("trend_minutes", "trend_tweets")
CHECK_TABLES = ("check_tweets", "check_follows", "check_lists")
PROJECTION_TABLES = (
    *TIMELINE_TABLES,
    *INDEX_TABLES,
    *LIST_TABLES,
    *MESSAGE_TABLES,
    *SEARCH_TABLES,
    *TREND_TABLES,
    *CHECK_TABLES,
)
