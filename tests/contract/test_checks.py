"""The CheckStore port: tweets and their deletion, follow edges and list owners."""

from __future__ import annotations

import msgpack
import pytest

from engine.adapters.cassandra.checks import CassandraChecks, tweet_bucket
from engine.events import pack_tweet
from engine.ports import Backend, CheckedTweet
from engine.records import Tweet
from tests.contract.helpers import new_id, new_ids, now_us, tweet


async def test_a_posted_tweet_reads_back_by_id(backend: Backend) -> None:
    posted = tweet(new_id())
    await backend.checks.put_tweets([posted.id])
    assert await backend.checks.tweet(posted.id) == CheckedTweet(posted.id, deleted=False)
    assert await backend.checks.tweet(new_id()) is None


async def test_a_deletion_reads_back_whole_and_is_never_undone_by_a_replay(
    backend: Backend,
) -> None:
    posted, unseen = tweet(new_id()), tweet(new_id())
    await backend.checks.put_tweets([posted.id])
    await backend.checks.delete_tweets([posted, unseen])
    await backend.checks.put_tweets([posted.id, unseen.id])
    await backend.checks.delete_tweets([posted])
    assert await backend.checks.tweet(posted.id) == CheckedTweet(posted.id, True, posted)
    assert await backend.checks.tweet(unseen.id) == CheckedTweet(unseen.id, True, unseen)


async def test_nothing_to_write_is_fine(backend: Backend) -> None:
    await backend.checks.put_tweets([])
    await backend.checks.delete_tweets([])
    await backend.checks.set_edges([], True, [])
    await backend.checks.put_list_owners([])


async def test_edges_follow_their_event_times(backend: Backend) -> None:
    follower, followee, other = new_ids(3)
    ts = now_us()
    assert not await backend.checks.follows(follower, followee)
    await backend.checks.set_edges([(follower, followee), (follower, other)], True, [ts, ts])
    assert await backend.checks.follows(follower, followee)
    assert not await backend.checks.follows(followee, follower)
    await backend.checks.set_edges([(follower, followee)], False, [ts + 10])
    await backend.checks.set_edges([(follower, followee)], True, [ts + 5])  # an older replay
    assert not await backend.checks.follows(follower, followee)
    assert await backend.checks.follows(follower, other)
    await backend.checks.set_edges([(follower, followee)], True, [ts + 11])
    assert await backend.checks.follows(follower, followee)


async def test_list_owners_read_back_and_replay(backend: Backend) -> None:
    first, second, owner = new_ids(3)
    await backend.checks.put_list_owners([(first, owner), (second, owner)])
    await backend.checks.put_list_owners([(first, owner)])
    assert await backend.checks.list_owner(first) == owner
    assert await backend.checks.list_owner(second) == owner
    assert await backend.checks.list_owner(new_id()) is None


async def test_clear_empties_the_checks(backend: Backend) -> None:
    posted, (list_id, owner) = tweet(new_id()), new_ids(2)
    await backend.checks.put_tweets([posted.id])
    await backend.checks.put_list_owners([(list_id, owner)])
    await backend.checks.set_edges([(owner, list_id)], True, [now_us()])
    await backend.checks.clear()
    assert await backend.checks.tweet(posted.id) is None
    assert await backend.checks.list_owner(list_id) is None
    assert not await backend.checks.follows(owner, list_id)


async def test_tweets_read_back_whichever_batches_wrote_them(backend: Backend) -> None:
    """A replay may group the same tweets otherwise (the Cassandra store packs a batch's
    ids of one bucket in a row): every tweet still reads back, once deleted stays deleted
    (and whole), and an id between them that was never posted reads as absent."""
    author = new_id()
    posted = [tweet(author) for _ in range(40)]
    ids = [t.id for t in posted]
    never = new_id()
    await backend.checks.put_tweets(ids[:30])
    await backend.checks.put_tweets(ids[10:])  # overlapping, other boundaries
    await backend.checks.put_tweets(ids[::-1])  # out of order, all at once
    await backend.checks.delete_tweets([posted[5]])
    await backend.checks.put_tweets(ids[:8])
    for t in posted:
        deleted = t is posted[5]
        want = CheckedTweet(t.id, deleted, t if deleted else None)
        assert await backend.checks.tweet(t.id) == want
    assert await backend.checks.tweet(never) is None


async def test_a_tweet_kept_one_to_a_row_before_packs_still_reads(backend: Backend) -> None:
    """Rows the Cassandra store wrote one per tweet (check_tweet_buckets, before its packs)
    are read as they are: upgrading needs no rebuild."""
    if not isinstance(backend.checks, CassandraChecks):
        pytest.skip("the embedded store never kept tweets another way")
    old = tweet(new_id())
    await backend.checks.cql.run(
        "INSERT INTO check_tweet_buckets (bucket, tweet_id, body) VALUES (?, ?, ?)",
        (tweet_bucket(old.id), old.id, pack_tweet(old)),
        op="check_tweets",
    )
    assert await backend.checks.tweet(old.id) == CheckedTweet(old.id, False, old)


async def test_a_pack_written_with_whole_tweets_still_reads(backend: Backend) -> None:
    """Packs the Cassandra store wrote with each tweet whole (before it kept ids alone) are
    read as they are, whole: upgrading needs no rebuild."""
    if not isinstance(backend.checks, CassandraChecks):
        pytest.skip("the embedded store never kept tweets another way")
    old = [tweet(new_id()) for _ in range(8)]
    by_bucket: dict[int, list[Tweet]] = {}
    for t in sorted(old, key=lambda t: t.id):
        by_bucket.setdefault(tweet_bucket(t.id), []).append(t)
    for bucket, pack in by_bucket.items():
        ids = [t.id for t in pack]
        blob = msgpack.packb([ids, [pack_tweet(t) for t in pack]], use_bin_type=True)
        await backend.checks.cql.run(
            "INSERT INTO check_tweet_packs (bucket, first_id, last_id, tweets) VALUES (?, ?, ?, ?)",
            (bucket, ids[0], ids[-1], blob),
            op="check_tweets",
        )
    for t in old:
        assert await backend.checks.tweet(t.id) == CheckedTweet(t.id, False, t)
