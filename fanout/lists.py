"""The lists projection: each list and its members (readers merge the members' timelines)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.events import GRAPH_TOPIC, ListCreated, ListMemberAdded, ListMemberRemoved
from engine.ids import id_ms
from engine.ports import Backend
from engine.records import UserList
from fanout.projection import Decoded, Projector, of_type


class ListProjector(Projector):
    """Writes lists and their membership, each change at its event time."""

    name = "lists"
    topics = (GRAPH_TOPIC,)
    tables = ("lists", "list_members")

    def __init__(self, backend: Backend) -> None:
        self.lists = backend.lists

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await asyncio.gather(
            *(
                self.lists.put_list(UserList(e.list_id, e.owner_id, e.name, id_ms(e.list_id)))
                for e in of_type(batch, ListCreated)
            )
        )
        for e in of_type(batch, ListMemberAdded, ListMemberRemoved):
            present = not isinstance(e, ListMemberRemoved)
            await self.lists.set_member(e.list_id, e.member_id, present, e.ts_us)
