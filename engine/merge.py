"""Merging newest-first pages of tweets: the high-follower merge of reads and home rebuilds."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from engine.records import Tweet


def merge(pages: Iterable[Sequence[Tweet]], count: int) -> list[Tweet]:
    """Newest first, each tweet once, at most count."""
    merged: list[Tweet] = []
    seen: set[int] = set()
    for tweet in heapq.merge(*pages, key=lambda t: -t.id):
        if tweet.id not in seen:
            seen.add(tweet.id)
            merged.append(tweet)
            if len(merged) == count:
                break
    return merged
