"""The lists projection on each backend: the member cap in log order, and list timelines that
hold exactly their members' tweets whatever order the two topics are applied in."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from engine.config import Settings
from engine.events import (
    Event,
    ListMemberAdded,
    ListMemberRemoved,
    TweetDeleted,
    TweetPosted,
)
from engine.ports import Backend, LogRecord
from engine.records import PageQuery
from fanout.lists import ListProjector
from fanout.projector import Decoded
from tests.contract.helpers import ids_of, new_id, new_ids, now_us, tweet

CAP = 2
_offsets = itertools.count()


def _projector(settings: Settings, backend: Backend) -> ListProjector:
    capped = dataclasses.replace(settings, list_max_members=CAP, home_trim_every=1)
    return ListProjector(capped, backend)


def _decoded(events: Sequence[Event]) -> list[Decoded]:
    """Events as one partition per topic would hold them, at increasing offsets."""
    return [(LogRecord(e.topic, 0, next(_offsets), b""), e) for e in events]


def _added(list_id: int, member_id: int) -> ListMemberAdded:
    return ListMemberAdded(new_id(), now_us(), list_id, 1, member_id)


def _removed(list_id: int, member_id: int) -> ListMemberRemoved:
    return ListMemberRemoved(new_id(), now_us(), list_id, 1, member_id)


def _posted(author_id: int) -> TweetPosted:
    return TweetPosted(new_id(), now_us(), tweet(author_id))


def _deleted(posted: TweetPosted) -> TweetDeleted:
    return TweetDeleted(new_id(), now_us(), posted.tweet)


async def test_adds_beyond_the_cap_are_ignored_in_log_order_and_on_every_replay(
    settings: Settings, backend: Backend
) -> None:
    projector = _projector(settings, backend)
    list_id, x, y, z, w = new_ids(5)
    log = _decoded(
        [_added(list_id, x), _added(list_id, y), _added(list_id, z), _removed(list_id, y)]
    )
    await projector.apply(log)
    assert await backend.lists.member_ids(list_id) == [x]
    for _ in range(2):  # at-least-once delivery: the same records again, alone and in batches
        await projector.apply(log)
        for item in log:
            await projector.apply([item])
        assert await backend.lists.member_ids(list_id) == [x]
    await projector.apply(_decoded([_added(list_id, w), _added(list_id, z)]))
    assert await backend.lists.member_ids(list_id) == [x, w]
    assert (await backend.lists.member_count(list_id)).members == CAP


async def test_a_list_page_holds_exactly_its_members_tweets_in_either_topic_order(
    settings: Settings, backend: Backend
) -> None:
    projector = _projector(settings, backend)
    a, b, c = new_ids(3)
    old_a, old_b, old_c = _posted(a), _posted(b), _posted(c)
    early_gone = _posted(a)
    gone = _posted(b)
    new_a, new_c = _posted(a), _posted(c)
    tweets = [old_a, old_b, old_c, early_gone, _deleted(early_gone), gone, new_a, new_c]
    tweets.append(_deleted(gone))
    graph_first, tweets_first = new_ids(2)
    wanted = sorted(ids_of([new_a.tweet, old_b.tweet, old_a.tweet]), reverse=True)
    for list_id, order in ((graph_first, "graph"), (tweets_first, "tweets")):
        graph = [_added(list_id, a), _added(list_id, b), _added(list_id, c), _removed(list_id, c)]
        first, second = (graph, tweets) if order == "graph" else (tweets, graph)
        await projector.apply(_decoded(first))
        await projector.apply(_decoded(second))
    graph_page = await backend.lists.list_page(graph_first, PageQuery(20))
    tweets_page = await backend.lists.list_page(tweets_first, PageQuery(20))
    assert ids_of(graph_page) == wanted
    assert ids_of(tweets_page) == wanted


async def test_a_member_who_leaves_takes_their_tweets_and_a_return_brings_them_back(
    settings: Settings, backend: Backend
) -> None:
    projector = _projector(settings, backend)
    list_id, a, b = new_ids(3)
    posts = [_posted(a), _posted(b)]
    await projector.apply(_decoded([_added(list_id, a), _added(list_id, b), *posts]))
    assert (
        ids_of(await backend.lists.list_page(list_id, PageQuery()))
        == ids_of([p.tweet for p in posts])[::-1]
    )
    await projector.apply(_decoded([_removed(list_id, a)]))
    assert await backend.lists.list_page(list_id, PageQuery()) == [posts[1].tweet]
    late = _posted(a)  # posted after a left: not copied
    await projector.apply(_decoded([late]))
    assert await backend.lists.list_page(list_id, PageQuery()) == [posts[1].tweet]
    await projector.apply(_decoded([_added(list_id, a)]))
    page = await backend.lists.list_page(list_id, PageQuery())
    assert ids_of(page) == sorted([late.tweet.id, posts[0].tweet.id, posts[1].tweet.id])[::-1]


async def test_a_delete_older_than_the_join_still_removes_the_backfilled_tweet(
    settings: Settings, backend: Backend
) -> None:
    projector = _projector(settings, backend)
    list_id, a = new_ids(2)
    post = _posted(a)
    delete = _deleted(post)  # the delete happened first ...
    join = _added(list_id, a)
    await projector.apply(_decoded([post, join]))  # ... but the join is applied before it
    assert await backend.lists.list_page(list_id, PageQuery()) == [post.tweet]
    await projector.apply(_decoded([delete]))
    assert await backend.lists.list_page(list_id, PageQuery()) == []
    assert await backend.lists.recent(a, 10) == []


async def test_a_tweet_applied_before_its_authors_departure_still_leaves_with_them(
    settings: Settings, backend: Backend
) -> None:
    projector = _projector(settings, backend)
    list_id, a = new_ids(2)
    await projector.apply(_decoded([_added(list_id, a)]))
    departure = _removed(list_id, a)
    late = _posted(a)  # posted after the departure, applied before it
    await projector.apply(_decoded([late]))
    assert await backend.lists.list_page(list_id, PageQuery()) == [late.tweet]
    await projector.apply(_decoded([departure]))
    assert await backend.lists.list_page(list_id, PageQuery()) == []
