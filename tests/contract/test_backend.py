"""clear() of every store a projection writes: what a rebuild starts from."""

from __future__ import annotations

from engine.ports import Backend, CountRow, ListCount, SearchEntry, TrendRow
from engine.records import DirectMessage, PageQuery, UserList
from engine.terms import tweet_terms
from tests.contract.helpers import an_hour_ago_us, new_id, new_ids, now_us, tweet, user


async def test_clear_empties_home_rows_and_their_tombstones(backend: Backend) -> None:
    owner, author = new_ids(2)
    removed, kept = tweet(author), tweet(author)
    ts = an_hour_ago_us()
    await backend.timelines.add_home_rows(owner, [(removed, ts), (kept, ts)])
    await backend.timelines.remove_home_rows(owner, [removed.id], ts + 1)
    await backend.timelines.clear()
    assert await backend.timelines.home_rows(owner, PageQuery()) == []
    await backend.timelines.put_tweets([removed], [ts])  # what pages are made of
    await backend.timelines.add_home_rows(owner, [(removed, ts)])
    assert await backend.timelines.home_page(owner, PageQuery()) == [removed]


async def test_clear_empties_the_timelines(backend: Backend) -> None:
    author = new_id()
    posted = tweet(author)
    await backend.timelines.put_tweets([posted], [an_hour_ago_us()])
    await backend.timelines.mark_celebrity(author)
    await backend.timelines.clear()
    assert await backend.timelines.get_tweet(posted.id) is None
    assert await backend.timelines.user_page(author, PageQuery()) == []
    assert author not in await backend.timelines.celebrities()


async def test_a_home_write_of_many_long_rows_is_taken_whole(backend: Backend) -> None:
    owner, author = new_ids(2)
    rows = [(tweet(author, text="ж" * 280), an_hour_ago_us()) for _ in range(400)]
    await backend.timelines.add_home_rows(owner, rows)
    assert len(await backend.timelines.home_authors(owner)) == 400


async def test_clear_empties_the_users(backend: Backend) -> None:
    someone = user()
    await backend.users.put_user(someone, an_hour_ago_us())
    await backend.users.clear()
    assert await backend.users.get_user(someone.id) is None
    assert await backend.users.get_user_by_handle(someone.handle) is None


async def test_clear_empties_the_graph(backend: Backend) -> None:
    a, b = new_ids(2)
    await backend.graph.put_edges([(a, b)], [an_hour_ago_us()])
    await backend.graph.put_count_rows([CountRow(b, 0, 1, 0, 3)])
    await backend.graph.clear()
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): False}
    assert await backend.graph.follower_ids(b, 10) == []
    assert await backend.graph.count_rows([(b, 0)]) == {(b, 0): CountRow(b, 0)}


async def test_clear_empties_the_lists(backend: Backend) -> None:
    list_id, owner, member = new_ids(3)
    posted, ts = tweet(member), an_hour_ago_us()
    await backend.lists.put_list(UserList(list_id, owner, "списък", 1_700_000_000_000))
    await backend.lists.set_member(list_id, member, True, ts, ListCount(list_id, 1, 4))
    await backend.lists.add_list_rows(list_id, [(posted, ts)])
    await backend.lists.put_recent([posted], [ts])
    await backend.lists.clear()
    assert await backend.lists.get_list(list_id) is None
    assert await backend.lists.member_ids(list_id) == []
    assert await backend.lists.member_count(list_id) == ListCount(list_id)
    assert await backend.lists.lists_of(member) == {}
    assert await backend.lists.list_page(list_id, PageQuery()) == []
    assert await backend.lists.recent(member, 10) == []


async def test_clear_empties_the_index(backend: Backend) -> None:
    owner, author = new_ids(2)
    posted, tag = tweet(author), f"t{new_id()}"
    await backend.index.add_tag_rows(tag, [(posted, an_hour_ago_us())])
    await backend.index.add_mention_rows(owner, [(posted, an_hour_ago_us())])
    await backend.index.clear()
    assert await backend.index.tag_page(tag, PageQuery()) == []
    assert await backend.index.mention_page(owner, PageQuery()) == []


async def test_clear_empties_the_messages(backend: Backend) -> None:
    a, b = new_ids(2)
    sent = DirectMessage(new_id(), a, "გიორგი", b, "айгүл", "сәлем!", 1_700_000_000)
    await backend.messages.put_message(sent, now_us())
    await backend.messages.clear()
    assert await backend.messages.page(a, PageQuery()) == []
    assert await backend.messages.page(b, PageQuery(), other_id=a) == []


async def test_clear_empties_the_trends(backend: Backend) -> None:
    minute, tag = now_us() // 60_000_000 - 1, f"t{new_id()}"
    await backend.trends.put_rows([TrendRow(minute, 0, {tag: 2}, 5)])
    await backend.trends.clear()
    assert await backend.trends.rows([(minute, 0)]) == {(minute, 0): TrendRow(minute, 0, {}, -1)}
    assert tag not in await backend.trends.window([minute])


async def test_clear_empties_the_search_index(backend: Backend) -> None:
    posted = tweet(new_id(), text=f"сәлем w{new_id()}")
    terms = tweet_terms(posted)
    await backend.search.add([SearchEntry(posted, terms, an_hour_ago_us())])
    assert await backend.search.search(terms, PageQuery()) == [posted]
    await backend.search.clear()
    assert await backend.search.search(terms, PageQuery()) == []
