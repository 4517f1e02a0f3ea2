"""Every projector of the log, by name (engine/groups.py): what `timeline` runs and replays."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import Settings
from engine.groups import CHECKS_PROJECTION, INDEX, LISTS, MESSAGES, SEARCH, TIMELINES, TRENDS
from engine.metrics import Metrics
from engine.ports import Backend
from fanout.checks import ChecksProjector
from fanout.index import IndexProjector
from fanout.lists import ListProjector
from fanout.messages import MessageProjector
from fanout.projector import Projector
from fanout.search import SearchProjector
from fanout.timelines import TimelinesProjector
from fanout.trends import TrendProjector

Factory = Callable[[Settings, Backend, Metrics], Projector]

PROJECTIONS: dict[str, Factory] = {
    TIMELINES: TimelinesProjector,
    INDEX: lambda s, b, m: IndexProjector(b),
    LISTS: lambda s, b, m: ListProjector(s, b),
    MESSAGES: lambda s, b, m: MessageProjector(b),
    TRENDS: lambda s, b, m: TrendProjector(b, s.projection_cache_rows),
    SEARCH: lambda s, b, m: SearchProjector(b),
    CHECKS_PROJECTION: lambda s, b, m: ChecksProjector(b),
}
