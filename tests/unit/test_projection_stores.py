"""The stores each projector writes, which a rebuild clears: every one, each once, and on the
embedded store every table a projection wrote left empty."""

import itertools
import time
import typing
from collections import Counter
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest

from engine.config import Settings
from engine.events import (
    DirectMessageSent,
    Event,
    Followed,
    ListCreated,
    ListMemberAdded,
    ListMemberRemoved,
    TweetDeleted,
    TweetPosted,
    Unfollowed,
    UserRegistered,
)
from engine.metrics import Metrics
from engine.ports import Backend, LogRecord, ProjectionStore
from engine.records import Mention, Tweet
from fanout.projections import PROJECTIONS
from tests.support import table_rows

pytestmark = pytest.mark.unit


def _store_names() -> list[str]:
    hints = typing.get_type_hints(Backend)
    return [n for n, t in hints.items() if isinstance(t, type) and issubclass(t, ProjectionStore)]


def test_every_projection_store_belongs_to_exactly_one_projector() -> None:
    backend = MagicMock()
    named = {id(getattr(backend, n)): n for n in _store_names()}
    projectors = [make(Settings(), backend, Metrics()) for make in PROJECTIONS.values()]
    owned = Counter(named.get(id(s), "?") for p in projectors for s in p.stores())
    assert owned == Counter(named.values())
    assert {"users", "graph", "timelines", "checks"} <= set(owned)


async def test_a_projector_clears_each_store_it_writes() -> None:
    backend = MagicMock()
    for name in _store_names():
        setattr(backend, name, MagicMock(clear=AsyncMock()))
    projector = PROJECTIONS["timelines"](Settings(), backend, Metrics())
    await projector.clear()
    for name in _store_names():
        cleared = getattr(backend, name).clear.await_count
        assert cleared == (1 if name in ("users", "graph", "timelines") else 0), name


# What the embedded store keeps that no projection writes: claims, keys, read-side activity.
NOT_PROJECTED = ("handle_claims", "user_registry", "phones", "idempotency_keys", "home_activity")
A, B, C, D, LIST = 401, 402, 403, 404, 501


def _events() -> list[list[Event]]:
    """Three batches that leave rows in every table a projection writes (bookkeeping too:
    tombstones, trims, a high-follower mark)."""
    now = time.time_ns() // 1000
    users = [UserRegistered(u, now, u, f"u{u}", "Дисплей") for u in (A, B, C, D)]

    def tweet(tweet_id: int, author: int) -> Tweet:
        text = f"Сәлем #әлем @u{B}"
        return Tweet(
            tweet_id, author, f"u{author}", text, 0, None, ("әлем",), (Mention(B, f"u{B}"),)
        )

    first, second, third, loud = tweet(11, A), tweet(12, A), tweet(14, A), tweet(13, D)
    return [
        [
            *users,
            Followed(21, now + 1, B, A),
            Followed(22, now + 1, B, D),
            Followed(23, now + 1, C, D),  # D: two followers, over the threshold of one
            ListCreated(24, now + 1, LIST, B, "списък"),
            ListMemberAdded(25, now + 2, LIST, B, A),
            ListMemberAdded(26, now + 2, LIST, B, C),
        ],
        [
            TweetPosted(first.id, now + 3, first),
            TweetPosted(second.id, now + 3, second),
            TweetPosted(third.id, now + 3, third),  # past the cap of one: trimmed
            TweetPosted(loud.id, now + 3, loud),
            DirectMessageSent(31, now + 3, 31, A, f"u{A}", B, f"u{B}", "сәлем!"),
        ],
        [
            TweetDeleted(41, now + 4, second),
            Unfollowed(42, now + 5, B, A),
            ListMemberRemoved(43, now + 6, LIST, B, C),
        ],
    ]


async def _row_counts(backend: Backend) -> dict[str, int]:
    """Rows in each table of the embedded store (a full-text index's own tables aside)."""
    engine = SimpleNamespace(settings=Settings(backend="embedded"), backend=backend)
    tables = await table_rows(engine, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    virtual = [name for name, sql in tables if sql.startswith("CREATE VIRTUAL TABLE")]
    names = [n for n, _ in tables if not any(n.startswith(f"{v}_") for v in virtual)]
    return {n: (await table_rows(engine, f"SELECT COUNT(*) FROM {n}"))[0][0] for n in names}


async def test_clearing_every_projection_empties_every_table_they_wrote(embedded: Backend) -> None:
    settings = Settings(
        celebrity_threshold=1,
        home_timeline_cap=1,
        follow_backfill_count=1,
        home_trim_every=1,
        inactive_after_s=0,
    )
    projectors = [make(settings, embedded, Metrics()) for make in PROJECTIONS.values()]
    for projector in projectors:
        await projector.open("clear-test")
    offsets = itertools.count()
    try:
        for events in _events():
            await embedded.log.append_many(events)  # where the follower index learns follows
            batch = [(LogRecord(e.topic, 0, next(offsets), b""), e) for e in events]
            for projector in projectors:
                await projector.apply([(r, e) for r, e in batch if r.topic in projector.topics])
    finally:
        for projector in projectors:
            await projector.close()
    before = await _row_counts(embedded)
    projected = set(before) - set(NOT_PROJECTED)
    assert {t for t in projected if before[t] == 0} == set()  # every table was written

    for projector in projectors:
        await projector.clear()
    after = await _row_counts(embedded)
    assert {t: after[t] for t in projected if after[t]} == {}
    assert after["home_activity"] == before["home_activity"] > 0  # read-side: not a projection
