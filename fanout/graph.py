"""The follow part of the `timelines` projection (fanout/timelines.py): users, edges,
exactly-once counts, backfill and unfollow cleanup."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from engine.cache import BoundedRows
from engine.config import Settings
from engine.events import Followed, Unfollowed, UserRegistered
from engine.ids import id_ms
from engine.ports import Backend, CountRow, LogRecord
from engine.records import PageQuery, User

FollowItem = tuple[LogRecord, Followed]


def _current(
    items: Sequence[FollowItem],
    changed: dict[tuple[int, int], int],
    present: dict[tuple[int, int], bool],
) -> list[FollowItem]:
    """The events to apply, in log order: each one newer than its edge's last applied change,
    or at that change's time and leaving the edge as it is, which is that change applied
    again. `changed` and `present` (each edge's last change and state) follow the events kept.
    """
    kept = []
    for record, event in items:
        pair = (event.follower_id, event.followee_id)
        follow = not isinstance(event, Unfollowed)
        last = changed[pair]
        if event.ts_us > last or (event.ts_us == last and present[pair] == follow):
            changed[pair] = event.ts_us
            present[pair] = follow
            kept.append((record, event))
    return kept


class GraphApplier:
    """Applies user and follow events; counts are guarded by the offset of the last event applied.

    A part of TimelinesProjector, not a Projector of its own: it owns no store alone.

    Follow events are keyed by the follower, so one partition's consumer is the only writer
    of a follower's edges and of the (user, partition) count rows. Counts are written before
    edges: a replay after a crash between the two finds the edge missing but the count row's
    offset already past the event, and so neither counts twice nor misses the edge.

    An edge keeps the newest change (its event time wins, as every write does), so a follow
    or unfollow older than the edge's last applied change is skipped: a second record of one
    event landing after a later change (a retried request re-appends the event of its first
    attempt, whose record may still land later, after an unfollow say), or an older event
    from a skewed clock. So is a different change made in the same microsecond as the last
    one (the first applied wins). Counts then always move with the edge itself.

    A change at the time of the edge's last one that leaves the edge as it is, is that same
    change applied again, and it runs again in full, backfill or cleanup included: when a
    batch fails after its edges were written (a home write timed out, the process died), the
    consumer applies it again, and the follow's backfill is then the only way the tweets
    whose audience was taken before the follow (fanout/audience.py) reach the follower. The
    store records an edge's change only once the edge is written
    (engine.ports.FollowGraph.edges_changed), so a change found recorded has its edge in
    place. Every step is idempotent: the edge writes, the counts (guarded by the edge's state
    and their offsets), and the backfill and cleanup (upserts and deletes at the event's time).
    """

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self._counts: BoundedRows[tuple[int, int], CountRow] = BoundedRows(
            settings.projection_cache_rows
        )

    @property
    def held(self) -> BoundedRows[tuple[int, int], CountRow]:
        """The count rows kept in memory between batches."""
        return self._counts

    def forget(self) -> None:
        """Drop cached count rows (partitions may have moved to another consumer)."""
        self._counts.clear()

    async def apply_users(self, events: Sequence[UserRegistered]) -> None:
        await asyncio.gather(
            *(
                self.backend.users.put_user(
                    User(e.user_id, e.handle, e.display_name, id_ms(e.user_id)), e.ts_us
                )
                for e in events
            )
        )

    async def apply_follows(self, items: Sequence[FollowItem]) -> None:
        if not items:
            return
        pairs = list(dict.fromkeys((e.follower_id, e.followee_id) for _, e in items))
        state, changed = await asyncio.gather(
            self.backend.graph.edges_exist(pairs), self.backend.graph.edges_changed(pairs)
        )
        items = _current(items, changed, dict(state))
        await self._load_counts(items)
        dirty = self._count(items, state)
        await self.backend.graph.put_count_rows([self._counts[k] for k in dirty])
        self._counts.trim()
        await self._write_edges(items, state)
        by_follower: dict[int, list[Followed]] = {}
        for _, e in items:
            by_follower.setdefault(e.follower_id, []).append(e)
        await asyncio.gather(*(self._after_each(events) for events in by_follower.values()))

    async def _after_each(self, events: list[Followed]) -> None:
        for event in events:  # in log order: a backfill never outlives a later cleanup
            await self._after(event)

    async def _load_counts(self, items: Sequence[FollowItem]) -> None:
        keys = {(uid, rec.partition) for rec, e in items for uid in (e.follower_id, e.followee_id)}
        self._counts.update(await self.backend.graph.count_rows(self._counts.missing(keys)))

    def _count(
        self, items: Sequence[FollowItem], state: dict[tuple[int, int], bool]
    ) -> set[tuple[int, int]]:
        dirty: set[tuple[int, int]] = set()
        for rec, e in items:
            pair = (e.follower_id, e.followee_id)
            follow = not isinstance(e, Unfollowed)
            if state[pair] == follow:
                continue  # following twice, or unfollowing a stranger: no change
            state[pair] = follow
            delta = 1 if follow else -1
            for uid, field in ((e.followee_id, "followers"), (e.follower_id, "following")):
                if self._bump((uid, rec.partition), field, delta, rec.offset):
                    dirty.add((uid, rec.partition))
        return dirty

    def _bump(self, key: tuple[int, int], field: str, delta: int, offset: int) -> bool:
        row = self._counts[key]
        if offset <= row.applied_offset:
            return False  # applied before a crash; the log is replaying it
        value = getattr(row, field) + delta
        self._counts[key] = dataclasses.replace(row, **{field: value, "applied_offset": offset})
        return True

    async def _write_edges(
        self, items: Sequence[FollowItem], state: dict[tuple[int, int], bool]
    ) -> None:
        last_ts = {(e.follower_id, e.followee_id): e.ts_us for _, e in items}
        added = [p for p, on in state.items() if on and p in last_ts]
        removed = [p for p, on in state.items() if not on and p in last_ts]
        await asyncio.gather(
            self.backend.graph.put_edges(added, [last_ts[p] for p in added]),
            self.backend.graph.delete_edges(removed, [last_ts[p] for p in removed]),
        )

    async def _after(self, event: Followed) -> None:
        if isinstance(event, Unfollowed):
            await self._clean_home(event)
        else:
            await self._backfill(event)

    async def _backfill(self, event: Followed) -> None:
        """Bring the followee's recent tweets into the follower's home timeline."""
        query = PageQuery(self.settings.follow_backfill_count)
        tweets = await self.backend.timelines.user_page(event.followee_id, query)
        if tweets:
            rows = [(t, event.ts_us) for t in tweets]
            await self.backend.timelines.add_home_rows(event.follower_id, rows)

    async def _clean_home(self, event: Unfollowed) -> None:
        """Remove the unfollowed author's tweets from the follower's home timeline."""
        rows = await self.backend.timelines.home_authors(event.follower_id)
        gone = [tid for tid, author in rows if author == event.followee_id]
        await self.backend.timelines.remove_home_rows(event.follower_id, gone, event.ts_us)
