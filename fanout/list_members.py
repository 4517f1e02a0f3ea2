"""List membership, decided in log order against each list's member cap.

A list's events are keyed by its owner, so one partition holds them in order and one
consumer applies them. Each change is decided against the list's count row, which keeps
the offset of the last change applied and is written in the same atomic write as the
member's row: an add beyond TIMELINE_LIST_MAX_MEMBERS is ignored, and a replay (after a
crash, or a rebuild) decides every event exactly as the first pass did, whatever else the
tables hold by then. An event at or below the applied offset only redoes its copies.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from engine.config import Settings
from engine.events import ListMemberAdded, ListMemberRemoved
from engine.ports import ListCount, ListStore, LogRecord
from fanout.list_timelines import ListTimelines

MemberItem = tuple[LogRecord, ListMemberAdded]


class ListMembership:
    """Applies member additions and removals, and the list timeline copies they imply."""

    def __init__(self, settings: Settings, lists: ListStore, timelines: ListTimelines) -> None:
        self.lists = lists
        self.timelines = timelines
        self.cap = settings.list_max_members

    async def apply(self, items: Sequence[MemberItem]) -> None:
        by_list: defaultdict[int, list[MemberItem]] = defaultdict(list)
        for record, event in items:
            by_list[event.list_id].append((record, event))
        await asyncio.gather(*(self._apply_list(i) for i in by_list.values()))

    async def _apply_list(self, items: list[MemberItem]) -> None:
        count = await self.lists.member_count(items[0][1].list_id)
        for record, event in items:  # in log order
            count = await self._change(count, record.offset, event)

    async def _change(self, count: ListCount, offset: int, event: ListMemberAdded) -> ListCount:
        joined = await self.lists.joined_us(event.list_id, event.member_id)
        add = not isinstance(event, ListMemberRemoved)
        if offset <= count.applied_offset:  # decided before a crash: redo only its copies
            if (joined == event.ts_us) if add else (joined is None):
                await self._copy(event, add)
            return count
        if add and joined is None and count.members >= self.cap:
            return count  # the list is full: ignored, on every replay alike
        if add == (joined is not None):  # already in, or never was: nothing to change
            if not add:
                await self._copy(event, add)  # still sweep rows a concurrent post wrote
            return count
        changed = ListCount(event.list_id, count.members + (1 if add else -1), offset)
        await self.lists.set_member(event.list_id, event.member_id, add, event.ts_us, changed)
        await self._copy(event, add)
        return changed

    async def _copy(self, event: ListMemberAdded, add: bool) -> None:
        """A join's backfill or a departure's cleanup, both at the event's time."""
        if add:
            await self.timelines.backfill(event.list_id, event.member_id, event.ts_us)
        else:
            await self.timelines.clean(event.list_id, event.member_id, event.ts_us)
