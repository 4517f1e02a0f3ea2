"""What the contract suites share: ids, records, clocks and draining a consumer."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from engine.events import Event, Followed, TweetPosted, decode_all
from engine.ids import IdGenerator
from engine.ports import LogConsumer, LogRecord
from engine.records import Mention, Tweet, User

_ids = IdGenerator(random.randrange(1024))
SEEDS = ("Сәлем, #әлем! @жігіт", "გამარჯობა #ტვიტერი https://example.com/ფოტო", "hello")


def new_id() -> int:
    """A Snowflake id, greater than every id issued before."""
    return _ids.next_id()


def new_ids(n: int) -> list[int]:
    """n increasing ids."""
    return [new_id() for _ in range(n)]


def now_us() -> int:
    """Wall-clock Unix microseconds."""
    return time.time_ns() // 1000


def an_hour_ago_us() -> int:
    """An event time safely before anything the store stamps with its own clock."""
    return now_us() - 3_600_000_000


def tweet(author_id: int, tweet_id: int | None = None, text: str = SEEDS[0]) -> Tweet:
    """A tweet with every field set."""
    tid = new_id() if tweet_id is None else tweet_id
    return Tweet(
        id=tid,
        author_id=author_id,
        author_handle=f"a{author_id % 10**9}",
        text=text,
        created_ms=1_700_000_000_000,
        in_reply_to_id=tid - 1,
        hashtags=("әлем",),
        mentions=(Mention(7, "жігіт"),),
        urls=("https://example.com/ფოტო",),
    )


def user(handle: str | None = None) -> User:
    """A user with a unique id and handle."""
    uid = new_id()
    return User(uid, handle or f"u{uid % 10**12}", "Дисплей", 1_700_000_000_000)


def posted(author_id: int) -> TweetPosted:
    """A tweet event keyed by its author."""
    t = tweet(author_id)
    return TweetPosted(new_id(), now_us(), t)


def followed(follower_id: int, followee_id: int) -> Followed:
    """A follow event keyed by the follower."""
    return Followed(new_id(), now_us(), follower_id, followee_id)


def ids_of(tweets: Sequence[Tweet]) -> list[int]:
    """The ids of tweets, in order."""
    return [t.id for t in tweets]


async def drain(consumer: LogConsumer, want: int, timeout_s: float = 20.0) -> list[LogRecord]:
    """Poll until `want` records arrived (a Kafka member first has to join its group)."""
    records: list[LogRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < want and time.monotonic() < deadline:
        records += await consumer.poll(max_records=500, timeout_ms=200)
    return records


async def drain_events(
    consumer: LogConsumer, want: int, timeout_s: float = 20.0
) -> list[tuple[LogRecord, Event]]:
    """Poll until `want` events arrived, each with the record that carries it (a record may
    hold a pack of posts)."""
    events: list[tuple[LogRecord, Event]] = []
    deadline = time.monotonic() + timeout_s
    while len(events) < want and time.monotonic() < deadline:
        for r in await consumer.poll(max_records=500, timeout_ms=200):
            events += [(r, e) for e in decode_all(r.value)]
    return events


async def noop() -> None:
    """A revoke hook that does nothing."""
    await asyncio.sleep(0)
