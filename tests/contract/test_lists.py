"""The ListStore port: lists, and members added and removed by event time."""

from __future__ import annotations

from engine.ports import Backend
from engine.records import UserList
from tests.contract.helpers import new_ids, now_us


async def test_a_put_list_reads_back(backend: Backend) -> None:
    list_id, owner = new_ids(2)
    user_list = UserList(list_id, owner, "ქართველები", 1_700_000_000_000)
    await backend.lists.put_list(user_list)
    assert await backend.lists.get_list(list_id) == user_list
    assert await backend.lists.get_list(new_ids(1)[0]) is None


async def test_members_are_listed_in_id_order(backend: Backend) -> None:
    list_id, *members = new_ids(5)
    for m in reversed(members):
        await backend.lists.set_member(list_id, m, True, now_us())
    assert await backend.lists.member_ids(list_id) == members


async def test_a_removal_is_not_undone_by_an_older_or_equal_add(backend: Backend) -> None:
    list_id, member = new_ids(2)
    ts = now_us()
    await backend.lists.set_member(list_id, member, True, ts)
    await backend.lists.set_member(list_id, member, False, ts + 10)
    await backend.lists.set_member(list_id, member, True, ts + 5)
    await backend.lists.set_member(list_id, member, True, ts + 10)
    assert await backend.lists.member_ids(list_id) == []
    await backend.lists.set_member(list_id, member, True, ts + 11)
    assert await backend.lists.member_ids(list_id) == [member]
