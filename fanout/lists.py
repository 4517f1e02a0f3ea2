"""The lists projection: lists, their members (capped), and list timelines kept like home
timelines, so a list's page is one partition read whatever the number of its members."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.config import Settings
from engine.events import (
    ListCreated,
    ListMemberAdded,
    ListMemberRemoved,
    TweetDeleted,
    TweetPosted,
)
from engine.groups import PROJECTION_TOPICS
from engine.ids import id_ms
from engine.ports import Backend, ProjectionStore
from engine.records import UserList
from fanout.list_members import ListMembership
from fanout.list_timelines import ListTimelines
from fanout.projector import Decoded, Projector, items_of, of_type


class ListProjector(Projector):
    """Writes lists, then membership changes, then tweets into their authors' lists."""

    name = "lists"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.lists = backend.lists
        self.timelines = ListTimelines(settings, backend.lists)
        self.members = ListMembership(settings, backend.lists, self.timelines)

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.lists,)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await asyncio.gather(
            *(
                self.lists.put_list(UserList(e.list_id, e.owner_id, e.name, id_ms(e.list_id)))
                for e in of_type(batch, ListCreated)
            )
        )
        await self.members.apply(items_of(batch, ListMemberAdded, ListMemberRemoved))
        await self.timelines.apply_posts(of_type(batch, TweetPosted))
        await self.timelines.apply_deletes(of_type(batch, TweetDeleted))
