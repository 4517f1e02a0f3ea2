"""The UserStore port: users by id and handle, newest write wins, counts summed."""

from __future__ import annotations

import dataclasses

from engine.ports import Backend, CountRow
from tests.contract.helpers import now_us, user


async def test_a_put_user_reads_back_by_id_and_any_case_handle(backend: Backend) -> None:
    alice = user()
    await backend.users.put_user(alice, now_us())
    assert await backend.users.get_user(alice.id) == alice
    assert await backend.users.get_user_by_handle(alice.handle.upper()) == alice


async def test_unknown_users_are_none(backend: Backend) -> None:
    assert await backend.users.get_user(user().id) is None
    assert await backend.users.get_user_by_handle(user().handle) is None


async def test_get_users_keeps_the_order_given_and_skips_unknown_ids(backend: Backend) -> None:
    a, b, c = user(), user(), user()
    for u in (a, b, c):
        await backend.users.put_user(u, now_us())
    found = await backend.users.get_users([c.id, user().id, a.id, b.id])
    assert found == [c, a, b]


async def test_the_newest_write_wins_whatever_the_arrival_order(backend: Backend) -> None:
    alice, ts = user(), now_us()
    await backend.users.put_user(alice, ts)
    await backend.users.put_user(dataclasses.replace(alice, display_name="older"), ts - 1)
    assert await backend.users.get_user(alice.id) == alice
    newer = dataclasses.replace(alice, display_name="newer")
    await backend.users.put_user(newer, ts + 1)
    assert await backend.users.get_user(alice.id) == newer


async def test_counts_are_summed_over_the_log_partitions(backend: Backend) -> None:
    alice = user()
    await backend.users.put_user(alice, now_us())
    await backend.graph.put_count_rows(
        [CountRow(alice.id, 0, followers=2, following=1), CountRow(alice.id, 2, 3, 4, 17)]
    )
    got = await backend.users.get_user(alice.id)
    assert got == dataclasses.replace(alice, followers_count=5, following_count=5)
    assert await backend.users.get_users([alice.id]) == [got]
