"""The projections of the log by name, the topics each reads, and the consumer group of each.

Fan-out runs a projector per name (fanout/projections.py); readers wait on a projection's
group (consistency tokens, live streams) and `timeline` starts, rebuilds and replays them by
name. All of them learn the names here, so a readers-only process needs no fan-out code.

Consumer group names are deployed state: a group's committed offsets are stored under its
name, so renaming one abandons them (a full replay). The `timelines` projection keeps the
group `<prefix>fanout`; every other projection's group is `<prefix><name>`.
"""

from __future__ import annotations

from engine.config import Settings
from engine.events import GRAPH_TOPIC, MESSAGES_TOPIC, TWEETS_TOPIC

TIMELINES = "timelines"
INDEX = "index"
LISTS = "lists"
MESSAGES = "messages"
TRENDS = "trends"
SEARCH = "search"
CHECKS_PROJECTION = "checks"

# The topics each projection reads: its projector's `topics`.
PROJECTION_TOPICS: dict[str, tuple[str, ...]] = {
    TIMELINES: (GRAPH_TOPIC, TWEETS_TOPIC),
    INDEX: (TWEETS_TOPIC,),
    LISTS: (GRAPH_TOPIC, TWEETS_TOPIC),
    MESSAGES: (MESSAGES_TOPIC,),
    TRENDS: (TWEETS_TOPIC,),
    SEARCH: (TWEETS_TOPIC,),
    CHECKS_PROJECTION: (GRAPH_TOPIC, TWEETS_TOPIC),
}
FANOUT = (TIMELINES,)
INDEXERS = (INDEX, LISTS, MESSAGES, TRENDS, SEARCH)
CHECKS = (CHECKS_PROJECTION,)
_GROUP_SUFFIX = {TIMELINES: "fanout"}  # the group's name from before projections had names


def group_name(settings: Settings, projection: str) -> str:
    """The consumer group that keeps a projection up to date."""
    return settings.consumer_group_prefix + _GROUP_SUFFIX.get(projection, projection)
