"""Fan-out skips inactive followers; a returning user's first home page is complete.

These tests run an engine of their own (its own keyspace, topics and groups, or data folder),
with an inactivity limit of a few seconds so that time can pass for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from engine.config import Settings
from engine.events import TweetPosted
from engine.home_rebuild import newest_of
from engine.ids import IdGenerator, id_ms
from engine.ports import Backend
from engine.records import PageQuery, Tweet
from readers.activity import HomeActivity
from tests.integration.conftest import api_of, running_engine
from tests.support import Api, eventually, post_fanout, settled
from timeline.app import Engine

INACTIVE_S = 4
CACHE_S = 0.5
MARGIN_S = 0.5
IDS = IdGenerator(1001 % 1024)


@pytest_asyncio.fixture(scope="module")
async def engine(settings: Settings, tmp_path_factory: Any) -> AsyncIterator[Engine]:
    run = uuid.uuid4().hex[:8]
    mine = dataclasses.replace(
        settings,
        inactive_after_s=INACTIVE_S,
        activity_cache_s=CACHE_S,
        activity_margin_s=MARGIN_S,
        activity_touch_s=0.2,
        data_dir=str(tmp_path_factory.mktemp(f"inactive-{run}")),
        cassandra_keyspace=f"ia_{run}",
        kafka_topic_prefix=f"ia-{run}.",
        consumer_group_prefix=f"ia-{run}-",
    )
    async with running_engine(mine) as started:
        yield started


@pytest_asyncio.fixture(scope="module")
async def api(engine: Engine) -> AsyncIterator[Api]:
    async with api_of(engine) as client:
        yield client


def backend_of(engine: Engine) -> Backend:
    assert engine.backend is not None
    return engine.backend


async def stored_home(engine: Engine, user: dict[str, Any]) -> list[str]:
    """The ids of a home timeline's own rows, read from the store (no read is recorded)."""
    rows = await backend_of(engine).timelines.home_page(int(user["id"]), PageQuery(200))
    return [str(t.id) for t in rows]


def metric(engine: Engine, name: str, **labels: str) -> float:
    return engine.metrics.registry.get_sample_value(name, labels) or 0.0


def newest_first(ids: list[str]) -> list[str]:
    return sorted(set(ids), key=int, reverse=True)


async def wait_inactive(engine: Engine, user: dict[str, Any]) -> None:
    """Sleep until the user's last known activity is older than the limit (and any cache)."""
    row = await backend_of(engine).activity.activity(int(user["id"]))
    assert row is not None  # the registration counts as activity
    due = row.last_read_us / 1e6 + INACTIVE_S + CACHE_S + 0.2
    await asyncio.sleep(max(0.0, due - time.time()))


@contextlib.asynccontextmanager
async def reading(api: Api, user: dict[str, Any]) -> AsyncIterator[None]:
    """Keep a user active: read their home timeline every 0.3 s."""

    async def loop() -> None:
        while True:
            await api.home(user)
            await asyncio.sleep(0.3)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_inactive_follower_gets_a_complete_first_page_on_return(
    api: Api, engine: Engine
) -> None:
    author, active, idle, star = [await api.user() for _ in range(4)]
    fans = [await api.user() for _ in range(3)]
    for follower in (active, idle):
        await api.follow(follower, author)
    for fan in (idle, *fans):  # four followers: above the threshold, merged at read time
        await api.follow(fan, star)
    async with reading(api, active):
        await settled(engine)
        await wait_inactive(engine, idle)
        skipped_before = metric(engine, "timeline_fanout_home_rows_skipped_total")
        while_idle = [(await api.tweet(author, f"away {i}"))["id"] for i in range(5)]
        starred = [(await api.tweet(star, f"star {i}"))["id"] for i in range(2)]
        await eventually(lambda: stored_home(engine, active), lambda got: got == while_idle[::-1])
        await settled(engine)
        assert await stored_home(engine, idle) == []  # nothing was written while inactive
        assert metric(engine, "timeline_fanout_home_rows_skipped_total") >= skipped_before + 5

        around: list[str] = []

        async def post_around() -> None:
            for i in range(12):
                around.append((await api.tweet(author, f"around {i}"))["id"])
                await asyncio.sleep(0.03)

        posting = asyncio.create_task(post_around())
        await eventually(lambda: asyncio.sleep(0, len(around)), lambda n: n >= 4)
        fanned_out = await stored_home(engine, active)  # what an active follower has by now
        first = await api.home_ids(idle, count=50)
        await posting
        before = newest_first([*while_idle, *starred, *fanned_out])
        assert first == newest_first(first)
        assert set(before) <= set(first)
        assert metric(engine, "timeline_home_rebuilds_total", reason="returned") >= 1

        await settled(engine)  # every tweet posted around the return went through fan-out
        everything = newest_first([*while_idle, *starred, *around])
        assert await api.home_ids(idle, count=50) == everything  # at once: no tweet was lost
        await asyncio.sleep(CACHE_S + MARGIN_S)
        assert await api.home_ids(idle, count=50) == everything  # the settling rebuild

        after = [(await api.tweet(author, f"back {i}"))["id"] for i in range(3)]
        own = [t for t in everything if t not in starred]
        want = newest_first([*own, *after])
        await eventually(lambda: stored_home(engine, idle), lambda got: got == want, 3.0)
        assert await stored_home(engine, active) == newest_first([*while_idle, *around, *after])


async def test_a_new_user_receives_tweets_without_reading(api: Api, engine: Engine) -> None:
    author, newcomer = await api.user(), await api.user()
    await api.follow(newcomer, author)
    await settled(engine)
    row = await backend_of(engine).activity.activity(int(newcomer["id"]))
    assert row is not None and row.reactivated_us == 0  # the registration counts as a read
    tweet = await api.tweet(author, "welcome")
    await eventually(lambda: stored_home(engine, newcomer), lambda got: got == [tweet["id"]])


@pytest_asyncio.fixture
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as exits:
        yield exits


async def registered() -> None:
    """The registry check of a user whose activity row proves the registration: never run."""
    raise AssertionError("an activity row proves the registration: the registry is not read")


def a_tweet(author_id: int) -> TweetPosted:
    tweet_id = IDS.next_id()
    tweet = Tweet(tweet_id, author_id, f"a{author_id % 10**9}", "stale view", id_ms(tweet_id))
    return TweetPosted(IDS.next_id(), time.time_ns() // 1000, tweet)


async def test_a_tweet_fanned_out_on_a_stale_view_after_a_return_still_reaches_the_page(
    engine: Engine, stack: contextlib.AsyncExitStack
) -> None:
    """The race of engine/home_rebuild.py, step by step, with fan-out's view cached for a minute."""
    backend, metrics = backend_of(engine), engine.metrics
    stale = dataclasses.replace(engine.settings, activity_cache_s=60.0, activity_margin_s=0.0)
    author, idle = IDS.next_id(), IDS.next_id()
    long_ago = time.time_ns() // 1000 - 2 * INACTIVE_S * 1_000_000
    await backend.graph.put_edges([(idle, author)], [long_ago])
    await backend.activity.mark_read(idle, long_ago)
    fanout = await stack.enter_async_context(post_fanout(stale, backend, metrics))
    readers = HomeActivity(stale, backend, metrics)
    home = lambda: backend.timelines.home_page(idle, PageQuery(50))  # noqa: E731

    before = a_tweet(author)
    await fanout.apply_posts([before])  # idle is inactive: skipped, and cached as inactive
    assert await home() == []
    await readers.before_read(idle, registered)  # the return: marked active, rebuilt
    assert await home() == [before.tweet]

    during = a_tweet(author)
    await fanout.apply_posts([during])  # fan-out still holds the view from before the return
    assert await home() == [before.tweet]  # skipped on the stale view...
    assert not readers.fresh(idle)
    await readers.before_read(idle, registered)  # ...so the next read rebuilds again
    assert await home() == [during.tweet, before.tweet]

    # a window long enough that the steps above (log and store round trips) end inside it
    quick = HomeActivity(dataclasses.replace(stale, activity_cache_s=3.0), backend, metrics)
    await quick.before_read(idle, registered)  # within the window: rebuilds, not yet settled
    assert not quick.fresh(idle)
    await asyncio.sleep(3.1)
    await quick.before_read(idle, registered)  # after it: the last rebuild, then settled
    assert quick.fresh(idle)


async def test_a_rebuild_reads_the_newest_tweets_of_many_followees_exactly(engine: Engine) -> None:
    backend = backend_of(engine)
    authors = [IDS.next_id() for _ in range(6)]
    skew = {authors[0]: 70, authors[1]: 25, authors[2]: 3, authors[3]: 1, authors[4]: 0}
    order = [a for a, n in skew.items() for _ in range(n)]
    random.Random(5).shuffle(order)  # interleaved in time
    posted = [a_tweet(a).tweet for a in order]
    posted += [a_tweet(authors[5]).tweet for _ in range(40)]  # the newest all from one author
    await backend.timelines.put_tweets(posted, [id_ms(t.id) * 1000 for t in posted])
    want = sorted(posted, key=lambda t: -t.id)
    for cap in (1, 7, 30, 200):
        assert await newest_of(backend, authors, cap) == want[:cap]


async def test_without_an_activity_row_fan_out_writes_and_a_read_rebuilds(
    engine: Engine, stack: contextlib.AsyncExitStack
) -> None:
    """A lost (or never written) row costs writes or a rebuild, never a tweet."""
    backend, metrics = backend_of(engine), engine.metrics
    author, reader = IDS.next_id(), IDS.next_id()
    await backend.graph.put_edges([(reader, author)], [time.time_ns() // 1000])
    fanout = await stack.enter_async_context(post_fanout(engine.settings, backend, metrics))
    assert await fanout.activity.inactive_among([reader]) == set()  # unknown counts as active
    earlier = a_tweet(author).tweet
    await backend.timelines.put_tweets([earlier], [id_ms(earlier.id) * 1000])  # never fanned out
    rebuilds = metric(engine, "timeline_home_rebuilds_total", reason="returned")
    checked: list[int] = []

    async def check() -> None:
        checked.append(reader)

    await HomeActivity(engine.settings, backend, metrics).before_read(reader, check)
    assert checked == [reader]  # with no row, the registry decides
    assert metric(engine, "timeline_home_rebuilds_total", reason="returned") == rebuilds + 1
    assert await backend.timelines.home_page(reader, PageQuery()) == [earlier]
    row = await backend.activity.activity(reader)
    assert row is not None and row.reactivated_us == row.last_read_us


async def test_a_home_read_of_an_unknown_user_writes_no_activity(api: Api, engine: Engine) -> None:
    """With no activity row the registry decides: a user it does not hold gets 404, no row."""
    unknown = IDS.next_id()
    missing = await api.call("GET", f"/v1/users/{unknown}/home_timeline", 404)
    assert missing["error"]["code"] == "user_not_found"
    assert await backend_of(engine).activity.activity(unknown) is None
