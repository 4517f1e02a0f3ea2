"""Every projection of the log, by name: what `timeline` runs and `timeline rebuild` replays."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend
from fanout.checks import ChecksProjector
from fanout.home import HomeProjector
from fanout.index import IndexProjector
from fanout.lists import ListProjector
from fanout.messages import MessageProjector
from fanout.projection import Projector
from fanout.search import SearchProjector
from fanout.trends import TrendProjector

Factory = Callable[[Settings, Backend, Metrics], Projector]

PROJECTIONS: dict[str, Factory] = {
    "timelines": HomeProjector,
    "index": lambda s, b, m: IndexProjector(b),
    "lists": lambda s, b, m: ListProjector(s, b),
    "messages": lambda s, b, m: MessageProjector(b),
    "trends": lambda s, b, m: TrendProjector(b, s.projection_cache_rows),
    "search": lambda s, b, m: SearchProjector(b),
    "checks": lambda s, b, m: ChecksProjector(b),
}
FANOUT = ("timelines",)
INDEXERS = ("index", "lists", "messages", "trends", "search")
CHECKS = ("checks",)


def group_name(settings: Settings, projection: str) -> str:
    """The consumer group that keeps a projection up to date."""
    suffix = "fanout" if projection == "timelines" else projection
    return settings.consumer_group_prefix + suffix
