"""The member cap, checked at ingest against the lists projection before an add is appended.

The projection may lag, so this check can let an add through that the projection then
ignores (it enforces the cap itself, in log order); it never refuses a list with room.
"""

from __future__ import annotations

import asyncio

from engine.errors import Conflict
from engine.ports import ListStore


async def require_room(lists: ListStore, list_id: int, member_id: int, cap: int) -> None:
    """Conflict `list_full` when the list already has `cap` members and this user is not one."""
    count, joined = await asyncio.gather(
        lists.member_count(list_id), lists.joined_us(list_id, member_id)
    )
    if joined is None and count.members >= cap:
        raise Conflict(f"list {list_id} already has {cap} members", code="list_full")
