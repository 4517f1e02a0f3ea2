"""Merging newest-first pages of tweets: the high-follower merge of reads and home rebuilds."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class Identified(Protocol):
    """Anything with a tweet id: a tweet, or a tweet ready to send."""

    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=Identified)


def merge(pages: Iterable[Sequence[T]], count: int) -> list[T]:
    """Newest first, each tweet once, at most count."""
    merged: list[T] = []
    seen: set[int] = set()
    for tweet in heapq.merge(*pages, key=lambda t: -t.id):
        if tweet.id not in seen:
            seen.add(tweet.id)
            merged.append(tweet)
            if len(merged) == count:
                break
    return merged
