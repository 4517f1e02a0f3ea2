"""fanout/projector.py: a batch's events picked by their exact types, in batch order."""

from __future__ import annotations

import pytest

from engine.events import GRAPH_TOPIC, TWEETS_TOPIC, Followed, TweetDeleted, TweetPosted, Unfollowed
from engine.ports import LogRecord
from engine.records import Tweet
from fanout.projector import Decoded, items_of, of_type

pytestmark = pytest.mark.unit


def batch() -> list[Decoded]:
    tweet = Tweet(10, 1, "a", "t", 0)
    events = [
        (GRAPH_TOPIC, Followed(1, 1, 2, 3)),
        (TWEETS_TOPIC, TweetPosted(2, 2, tweet)),
        (GRAPH_TOPIC, Unfollowed(3, 3, 2, 3)),
        (TWEETS_TOPIC, TweetDeleted(4, 4, tweet)),
        (GRAPH_TOPIC, Followed(5, 5, 4, 3)),
    ]
    return [(LogRecord(topic, 0, i, b""), e) for i, (topic, e) in enumerate(events)]


def test_of_type_takes_exact_types_not_subclasses() -> None:
    decoded = batch()
    assert [e.event_id for e in of_type(decoded, Followed)] == [1, 5]  # no Unfollowed
    assert [e.event_id for e in of_type(decoded, TweetPosted)] == [2]  # no TweetDeleted
    assert [e.event_id for e in of_type(decoded, Unfollowed)] == [3]
    assert of_type(decoded) == []


def test_items_of_keeps_each_record_with_its_event_in_batch_order() -> None:
    decoded = batch()
    items = items_of(decoded, Unfollowed, Followed)  # the order of kinds does not matter
    assert [(r.offset, e.event_id) for r, e in items] == [(0, 1), (2, 3), (4, 5)]
    assert all(r is decoded[r.offset][0] for r, _ in items)
    assert items_of(decoded, TweetPosted, TweetDeleted) == [decoded[1], decoded[3]]
