"""The TimelineStore port: tweets, pages by cursor, deletes by event time, trims, celebrities."""

from __future__ import annotations

import pytest

from engine.events import unpack_tweet
from engine.ports import Backend
from engine.records import PageQuery
from tests.contract.helpers import SEEDS, an_hour_ago_us, ids_of, new_ids, now_us, tweet


async def test_a_put_tweet_reads_back_whole(backend: Backend) -> None:
    author = new_ids(1)[0]
    tweets = [tweet(author, text=seed) for seed in SEEDS]
    await backend.timelines.put_tweets(tweets, [now_us()] * len(tweets))
    for t in tweets:
        assert await backend.timelines.get_tweet(t.id) == t
    assert await backend.timelines.user_page(author, PageQuery()) == tweets[::-1]
    assert await backend.timelines.get_tweet(new_ids(1)[0]) is None


async def test_the_newest_tweet_write_wins(backend: Backend) -> None:
    author, ts = new_ids(1)[0], now_us()
    first = tweet(author, text="first")
    await backend.timelines.put_tweets([first], [ts])
    await backend.timelines.put_tweets([tweet(author, first.id, "older")], [ts - 1])
    assert await backend.timelines.get_tweet(first.id) == first
    assert await backend.timelines.user_page(author, PageQuery()) == [first]


async def test_pages_follow_twitters_cursors(backend: Backend) -> None:
    owner, author = new_ids(2)
    tweets = [tweet(author) for _ in range(10)]
    await backend.timelines.add_home_rows(owner, [(t, now_us()) for t in tweets])
    await backend.timelines.put_tweets(tweets, [now_us()] * len(tweets))
    ids = ids_of(tweets)[::-1]  # newest first
    pages = [(backend.timelines.home_page, owner), (backend.timelines.user_page, author)]
    for page, key in pages:
        assert ids_of(await page(key, PageQuery(3))) == ids[:3]
        assert ids_of(await page(key, PageQuery(3, max_id=ids[3]))) == ids[3:6]
        assert ids_of(await page(key, PageQuery(20, since_id=ids[7]))) == ids[:7]
        assert ids_of(await page(key, PageQuery(20, ids[2], ids[5]))) == ids[2:5]


async def test_home_rows_are_the_home_page_as_stored(backend: Backend) -> None:
    owner, a, b = new_ids(3)
    tweets = [tweet(a), tweet(b), tweet(a)]
    await backend.timelines.add_home_rows(owner, [(t, now_us()) for t in tweets])
    newest = tweets[::-1]
    rows = await backend.timelines.home_rows(owner, PageQuery(2))
    assert [(r.tweet_id, r.author_id) for r in rows] == [(t.id, t.author_id) for t in newest[:2]]
    assert all(
        r.body is None or unpack_tweet(r.body) == t for r, t in zip(rows, newest[:2], strict=True)
    )
    older = await backend.timelines.home_rows(owner, PageQuery(5, since_id=newest[2].id))
    assert [r.tweet_id for r in older] == ids_of(newest[:2])
    assert await backend.timelines.home_rows(new_ids(1)[0], PageQuery()) == []


async def test_get_tweets_reads_those_the_store_holds_at_once(backend: Backend) -> None:
    author, ts = new_ids(1)[0], now_us()
    kept, gone, never = tweet(author), tweet(author), new_ids(1)[0]
    await backend.timelines.put_tweets([kept, gone], [ts, ts])
    await backend.timelines.delete_tweets([gone], [ts + 1])
    found = await backend.timelines.get_tweets([gone.id, kept.id, never, kept.id])
    assert found == {kept.id: kept}
    assert await backend.timelines.get_tweets([]) == {}


async def test_home_authors_lists_every_row(backend: Backend) -> None:
    owner, a, b = new_ids(3)
    rows = [(tweet(a), now_us()), (tweet(b), now_us())]
    await backend.timelines.add_home_rows(owner, rows)
    assert sorted(await backend.timelines.home_authors(owner)) == sorted(
        (t.id, t.author_id) for t, _ in rows
    )


async def test_home_authors_reads_the_newest_rows_up_to_the_port_limit(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, author = new_ids(2)
    tweets = [tweet(author) for _ in range(3)]
    await backend.timelines.add_home_rows(owner, [(t, now_us()) for t in tweets])
    monkeypatch.setattr(backend.timelines, "home_authors_limit", 2)
    newest = sorted(tweets, key=lambda t: -t.id)[:2]
    assert await backend.timelines.home_authors(owner) == [(t.id, author) for t in newest]


async def test_a_removed_home_row_stays_removed_for_older_writes(backend: Backend) -> None:
    owner, author = new_ids(2)
    gone, kept = tweet(author), tweet(author)
    ts = now_us()
    await backend.timelines.put_tweets([gone, kept], [ts, ts])  # what pages are made of
    await backend.timelines.add_home_rows(owner, [(gone, ts), (kept, ts)])
    await backend.timelines.remove_home_rows(owner, [gone.id], ts + 10)
    await backend.timelines.add_home_rows(owner, [(gone, ts + 5)])
    await backend.timelines.add_home_rows(owner, [(gone, ts + 10)])
    assert await backend.timelines.home_page(owner, PageQuery()) == [kept]
    await backend.timelines.add_home_rows(owner, [(gone, ts + 11)])
    assert await backend.timelines.home_page(owner, PageQuery()) == [kept, gone]


async def test_the_newest_home_row_write_wins(backend: Backend) -> None:
    owner, author = new_ids(2)
    ts = now_us()
    first = tweet(author, text="first")
    await backend.timelines.put_tweets([first], [ts])
    await backend.timelines.add_home_rows(owner, [(first, ts)])
    await backend.timelines.add_home_rows(owner, [(tweet(author, first.id, "older"), ts - 1)])
    assert await backend.timelines.home_page(owner, PageQuery()) == [first]


async def test_trim_keeps_the_newest_rows_and_says_whether_it_cut(backend: Backend) -> None:
    owner, author = new_ids(2)
    tweets = [tweet(author) for _ in range(10)]
    await backend.timelines.put_tweets(tweets, [an_hour_ago_us()] * len(tweets))
    await backend.timelines.add_home_rows(owner, [(t, an_hour_ago_us()) for t in tweets])
    assert await backend.timelines.trim_home(owner, 4) == 1
    assert ids_of(await backend.timelines.home_page(owner, PageQuery(20))) == ids_of(tweets)[:-5:-1]
    assert await backend.timelines.trim_home(owner, 4) == 0
    assert await backend.timelines.trim_home(new_ids(1)[0], 4) == 0


async def test_trimmed_rows_stay_cut_when_replayed_but_new_rows_arrive(backend: Backend) -> None:
    owner, author = new_ids(2)
    old = [tweet(author) for _ in range(6)]
    await backend.timelines.put_tweets(old, [an_hour_ago_us()] * len(old))
    await backend.timelines.add_home_rows(owner, [(t, an_hour_ago_us()) for t in old])
    await backend.timelines.trim_home(owner, 2)
    await backend.timelines.add_home_rows(owner, [(t, an_hour_ago_us()) for t in old])
    fresh = tweet(author)
    await backend.timelines.put_tweets([fresh], [now_us()])
    await backend.timelines.add_home_rows(owner, [(fresh, now_us())])
    page = await backend.timelines.home_page(owner, PageQuery(20))
    assert ids_of(page) == [fresh.id, old[5].id, old[4].id]


async def test_celebrities_are_remembered_once(backend: Backend) -> None:
    star = new_ids(1)[0]
    await backend.timelines.mark_celebrity(star)
    await backend.timelines.mark_celebrity(star)
    assert star in await backend.timelines.celebrities()


async def test_a_deleted_tweet_is_gone_and_stays_gone_for_older_writes(backend: Backend) -> None:
    author, ts = new_ids(1)[0], now_us()
    gone, kept = tweet(author), tweet(author)
    await backend.timelines.put_tweets([gone, kept], [ts, ts])
    await backend.timelines.delete_tweets([gone], [ts + 10])
    await backend.timelines.put_tweets([gone], [ts + 10])
    assert await backend.timelines.get_tweet(gone.id) is None
    assert await backend.timelines.user_page(author, PageQuery()) == [kept]
    await backend.timelines.put_tweets([gone], [ts + 11])
    assert await backend.timelines.get_tweet(gone.id) == gone


async def test_home_rows_of_many_owners_go_in_at_once_and_leave_at_once(backend: Backend) -> None:
    author, *owners = new_ids(41)
    tweets = [tweet(author, text=f"many {i}") for i in range(30)]
    ts = now_us()
    await backend.timelines.put_tweets(tweets, [ts] * len(tweets))
    await backend.timelines.put_home_rows([(o, t, ts) for o in owners for t in tweets])
    newest = tweets[::-1]
    for owner in owners:
        assert await backend.timelines.home_page(owner, PageQuery(50)) == newest
    gone = tweets[-1]
    await backend.timelines.remove_home_rows_many([(o, gone.id, ts + 1) for o in owners])
    for owner in owners:
        assert await backend.timelines.home_page(owner, PageQuery(50)) == newest[1:]
