"""The terms a tweet is found by, and the terms of a search query.

A tweet is indexed under its words, `#<tag>` for each hashtag and `@<user id>` for each
resolved mention. A word is a maximal run of letters, marks, digits and `_` in the text after
NFKC case folding (the word-character rule of engine/text.py, which hashtags and handles use
too), so words of every script are words and case never matters: `Сәлем` and `сәлем` are one
term, and so are Georgian words in either case. The search projection indexes these terms and
readers fold a query the same way, so both backends compare the same strings.
"""

from __future__ import annotations

from engine.records import Tweet
from engine.text import normalize_tag, word_run_re

TAG_PREFIX = "#"
MENTION_PREFIX = "@"


def fold(text: str) -> str:
    """Text as terms compare it: NFKC, case-folded, NFC again (as hashtags compare)."""
    return normalize_tag(text)


def words(text: str) -> list[str]:
    """The distinct words of a text, folded, in order of appearance."""
    return list(dict.fromkeys(word_run_re().findall(fold(text))))


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
