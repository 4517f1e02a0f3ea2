"""The ListStore port: lists, members and counts, list timelines and authors' recent tweets."""

from __future__ import annotations

from engine.ports import Backend, ListCount
from engine.records import PageQuery, UserList
from tests.contract.helpers import an_hour_ago_us, ids_of, new_ids, now_us, tweet


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


async def test_a_member_and_the_count_are_written_together(backend: Backend) -> None:
    list_id, a, b = new_ids(3)
    assert await backend.lists.member_count(list_id) == ListCount(list_id)
    ts = now_us()
    await backend.lists.set_member(list_id, a, True, ts, ListCount(list_id, 1, 7))
    await backend.lists.set_member(list_id, b, True, ts + 1, ListCount(list_id, 2, 9))
    assert await backend.lists.member_count(list_id) == ListCount(list_id, 2, 9)
    assert await backend.lists.joined_us(list_id, a) == ts
    assert await backend.lists.joined_us(list_id, b) == ts + 1
    await backend.lists.set_member(list_id, a, False, ts + 2, ListCount(list_id, 1, 12))
    await backend.lists.set_member(list_id, b, False, ts + 3, ListCount(list_id, 0, 13))
    assert await backend.lists.member_count(list_id) == ListCount(list_id, 0, 13)
    assert await backend.lists.joined_us(list_id, a) is None
    # a list whose members all left still answers no member, whatever its count row holds
    assert await backend.lists.member_ids(list_id) == []
    assert await backend.lists.member_ids(list_id, 5) == []
    assert await backend.lists.member_page(list_id, 5) == []


async def test_lists_of_follows_membership_both_ways(backend: Backend) -> None:
    first, second, member = new_ids(3)
    ts = now_us()
    await backend.lists.set_member(first, member, True, ts)
    await backend.lists.set_member(second, member, True, ts + 1)
    assert await backend.lists.lists_of(member) == {first: ts, second: ts + 1}
    await backend.lists.set_member(first, member, False, ts + 2)
    await backend.lists.set_member(first, member, True, ts + 1)  # older than the removal
    assert await backend.lists.lists_of(member) == {second: ts + 1}
    assert await backend.lists.lists_of(new_ids(1)[0]) == {}


async def test_members_page_highest_first_and_member_ids_take_a_limit(backend: Backend) -> None:
    list_id, *members = new_ids(6)
    for m in members:
        await backend.lists.set_member(list_id, m, True, now_us())
    assert await backend.lists.member_ids(list_id, 3) == members[:3]
    newest_first = members[::-1]
    assert await backend.lists.member_page(list_id, 2) == newest_first[:2]
    assert await backend.lists.member_page(list_id, 2, newest_first[2]) == newest_first[2:4]
    assert await backend.lists.member_page(list_id, 10, newest_first[4]) == newest_first[4:]


async def test_list_pages_follow_twitters_cursors(backend: Backend) -> None:
    list_id, author = new_ids(2)
    tweets = [tweet(author) for _ in range(10)]
    await backend.lists.add_list_rows(list_id, [(t, now_us()) for t in tweets])
    ids = ids_of(tweets)[::-1]
    page = backend.lists.list_page
    assert ids_of(await page(list_id, PageQuery(3))) == ids[:3]
    assert ids_of(await page(list_id, PageQuery(3, max_id=ids[3]))) == ids[3:6]
    assert ids_of(await page(list_id, PageQuery(20, since_id=ids[7]))) == ids[:7]
    assert await page(list_id, PageQuery(1)) == [tweets[-1]]
    assert await backend.lists.list_page(new_ids(1)[0], PageQuery()) == []


async def test_a_removed_list_row_stays_removed_for_older_writes(backend: Backend) -> None:
    list_id, a, b = new_ids(3)
    gone, kept, other = tweet(a), tweet(a), tweet(b)
    ts = now_us()
    await backend.lists.add_list_rows(list_id, [(gone, ts), (kept, ts), (other, ts)])
    assert sorted(await backend.lists.list_authors(list_id)) == sorted(
        [(gone.id, a), (kept.id, a), (other.id, b)]
    )
    await backend.lists.remove_list_rows(list_id, [gone.id], ts + 10)
    await backend.lists.add_list_rows(list_id, [(gone, ts + 10)])  # a tie: the removal wins
    assert ids_of(await backend.lists.list_page(list_id, PageQuery())) == [other.id, kept.id]
    await backend.lists.add_list_rows(list_id, [(gone, ts + 11)])
    assert len(await backend.lists.list_page(list_id, PageQuery())) == 3


async def test_list_trims_keep_the_newest_rows_and_stay_cut_when_replayed(
    backend: Backend,
) -> None:
    list_id, author = new_ids(2)
    tweets = [tweet(author) for _ in range(10)]
    rows = [(t, an_hour_ago_us()) for t in tweets]
    await backend.lists.add_list_rows(list_id, rows)
    assert await backend.lists.trim_list(list_id, 4) == 1
    assert await backend.lists.trim_list(list_id, 4) == 0
    await backend.lists.add_list_rows(list_id, rows)  # a replay of older writes
    newest = ids_of(tweets)[:-5:-1]
    assert ids_of(await backend.lists.list_page(list_id, PageQuery(20))) == newest


async def test_recent_tweets_are_kept_per_author_deleted_and_trimmed(backend: Backend) -> None:
    a, b = new_ids(2)
    mine, theirs = [tweet(a) for _ in range(5)], tweet(b)
    ts = an_hour_ago_us()
    await backend.lists.put_recent([*mine, theirs], [ts] * 6)
    assert await backend.lists.recent(a, 3) == mine[:-4:-1]
    await backend.lists.delete_recent([mine[-1]], [ts + 1])
    await backend.lists.put_recent([mine[-1]], [ts])  # a replay older than the delete
    assert ids_of(await backend.lists.recent(a, 10)) == ids_of(mine[:-1])[::-1]
    assert await backend.lists.trim_recent(a, 2) == 1
    assert ids_of(await backend.lists.recent(a, 10)) == ids_of(mine[2:4])[::-1]
    assert await backend.lists.recent(b, 10) == [theirs]
