"""The ActivityStore port: the newest time wins in every field, bulk reads, missing users."""

from __future__ import annotations

from engine.ports import Activity, Backend
from tests.contract.conftest import Reopen
from tests.contract.helpers import an_hour_ago_us, new_ids, now_us


async def test_a_user_never_seen_has_no_activity(backend: Backend) -> None:
    user = new_ids(1)[0]
    assert await backend.activity.activity(user) is None
    assert await backend.activity.last_reads([user]) == {}


async def test_the_newest_read_wins_whatever_the_order(backend: Backend) -> None:
    user, ts = new_ids(1)[0], now_us()
    await backend.activity.mark_read(user, ts)
    await backend.activity.mark_read(user, ts - 1_000_000)
    assert await backend.activity.activity(user) == Activity(user, ts)
    await backend.activity.mark_read(user, ts + 5)
    assert await backend.activity.last_reads([user]) == {user: ts + 5}


async def test_a_return_and_a_rebuild_are_kept_beside_the_last_read(backend: Backend) -> None:
    user, ts = new_ids(1)[0], now_us()
    await backend.activity.mark_read(user, an_hour_ago_us())
    await backend.activity.mark_read(user, ts, reactivated=True)
    await backend.activity.mark_rebuilt(user, ts + 10)
    await backend.activity.mark_read(user, ts + 20)
    assert await backend.activity.activity(user) == Activity(user, ts + 20, ts, ts + 10)
    await backend.activity.mark_rebuilt(user, ts + 5)  # an older rebuild never hides a newer
    await backend.activity.mark_read(user, ts - 1, reactivated=True)
    assert await backend.activity.activity(user) == Activity(user, ts + 20, ts, ts + 10)


async def test_a_rebuild_alone_is_no_known_read(backend: Backend) -> None:
    user = new_ids(1)[0]
    await backend.activity.mark_rebuilt(user, now_us())
    assert await backend.activity.activity(user) is None
    assert await backend.activity.last_reads([user]) == {}


async def test_last_reads_answers_a_large_audience_and_skips_the_unknown(backend: Backend) -> None:
    users, base = new_ids(1200), an_hour_ago_us()
    known = users[::2]
    for i, uid in enumerate(known):
        await backend.activity.mark_read(uid, base + i)
    found = await backend.activity.last_reads([*users, *known[:10]])
    assert found == {uid: base + i for i, uid in enumerate(known)}
    assert await backend.activity.last_reads([]) == {}


async def test_activity_survives_a_restart(backend: Backend, reopen: Reopen) -> None:
    user, ts = new_ids(1)[0], now_us()
    await backend.activity.mark_read(user, ts, reactivated=True)
    again = await reopen()
    assert await again.activity.activity(user) == Activity(user, ts, ts)
