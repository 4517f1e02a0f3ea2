"""The search projection, and the terms a tweet is found by.

A tweet is indexed under its words, `#<tag>` for each hashtag and `@<user id>` for each
resolved mention. A word is a maximal run of letters, marks, digits and `_` in the text after
NFKC case folding (the hashtag rule of engine/text.py), so words of every script are words
and case never matters: `Сәлем` and `сәлем` are one term, and so are Georgian words in either
case. Readers fold a query the same way, so both backends compare the same strings.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Sequence

from engine.events import TWEETS_TOPIC, TweetDeleted, TweetPosted
from engine.ports import Backend, SearchEntry
from engine.records import Tweet
from engine.tables import SEARCH_TABLES
from engine.text import normalize_tag
from fanout.projection import Decoded, Projector, of_type

TAG_PREFIX = "#"
MENTION_PREFIX = "@"
_VARIATION_SELECTORS = {*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}


@functools.cache
def _word_re() -> re.Pattern[str]:
    r"""Runs of `\w` (letters, digits, `_`) and combining marks, variation selectors excepted."""
    marks = [
        cp
        for cp in range(sys.maxunicode + 1)
        if cp not in _VARIATION_SELECTORS and unicodedata.category(chr(cp))[0] == "M"
    ]
    ranges: list[tuple[int, int]] = []
    for cp in marks:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    extra = "".join(
        re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges
    )
    return re.compile(rf"[\w{extra}]+")


def fold(text: str) -> str:
    """Text as terms compare it: NFKC, case-folded, NFC again (as hashtags compare)."""
    return normalize_tag(text)


def words(text: str) -> list[str]:
    """The distinct words of a text, folded, in order of appearance."""
    return list(dict.fromkeys(_word_re().findall(fold(text))))


def word_at(text: str, start: int) -> str:
    """The run of word characters of a text that starts at `start` (not folded), or ""."""
    match = _word_re().match(text, start)
    return match.group(0) if match else ""


def tag_term(tag: str) -> str:
    """The term a hashtag is indexed under."""
    return TAG_PREFIX + normalize_tag(tag)


def mention_term(user_id: int) -> str:
    """The term a mention of a user is indexed under."""
    return f"{MENTION_PREFIX}{user_id}"


def tweet_terms(tweet: Tweet) -> tuple[str, ...]:
    """Every term a tweet is found by: its words, its hashtags and its mentioned users."""
    terms = [*words(tweet.text), *(tag_term(t) for t in tweet.hashtags)]
    terms += [mention_term(m.user_id) for m in tweet.mentions]
    return tuple(dict.fromkeys(terms))


class SearchProjector(Projector):
    """Indexes posted tweets under their terms and removes deleted ones.

    Direct messages are on another topic and never reach this projection.
    """

    name = "search"
    topics = (TWEETS_TOPIC,)
    tables = SEARCH_TABLES

    def __init__(self, backend: Backend) -> None:
        self.index = backend.search

    async def apply(self, batch: Sequence[Decoded]) -> None:
        posted = of_type(batch, TweetPosted)
        if posted:
            await self.index.add(
                [SearchEntry(e.tweet, tweet_terms(e.tweet), e.ts_us) for e in posted]
            )
        deleted = of_type(batch, TweetDeleted)
        if deleted:
            await self.index.remove([(e.tweet, e.ts_us) for e in deleted])
