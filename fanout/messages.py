"""The direct-message projection: each participant's view and each conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.events import DirectMessageSent
from engine.groups import PROJECTION_TOPICS
from engine.ports import Backend, ProjectionStore
from fanout.projector import Decoded, Projector, of_type


class MessageProjector(Projector):
    """Writes messages for their two participants only."""

    name = "messages"
    topics = PROJECTION_TOPICS[name]

    def __init__(self, backend: Backend) -> None:
        self.messages = backend.messages

    def stores(self) -> tuple[ProjectionStore, ...]:
        return (self.messages,)

    async def apply(self, batch: Sequence[Decoded]) -> None:
        await asyncio.gather(
            *(
                self.messages.put_message(e.message(), e.ts_us)
                for e in of_type(batch, DirectMessageSent)
            )
        )
