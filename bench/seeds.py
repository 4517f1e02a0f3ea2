"""Tweet texts cut from the seed documents (Kazakh and Georgian), at most 140 characters each."""

from __future__ import annotations

import re
import time
import unicodedata
from functools import cache

from bench.config import SEEDS_DIR
from engine.errors import InvalidInput
from engine.events import TweetPosted, encode
from engine.ids import IdGenerator, id_ms
from engine.records import Tweet
from engine.text import MAX_TEXT_CHARS, extract_entities, normalize_text

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def cut(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """The text, NFC, in pieces of at most `limit` code points, cut at spaces where possible."""
    rest = " ".join(unicodedata.normalize("NFC", text).split())
    pieces = []
    while len(rest) > limit:
        space = rest.rfind(" ", 0, limit + 1)
        end = space if space > limit // 2 else limit
        pieces.append(rest[:end].strip())
        rest = rest[end:].strip()
    return [*pieces, rest] if rest else pieces


@cache
def seed_texts() -> tuple[str, ...]:
    """Every sentence of the seeds as a valid tweet text, in file order."""
    texts: list[str] = []
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        for paragraph in path.read_text(encoding="utf-8").splitlines():
            for sentence in _SENTENCE_END.split(paragraph):
                for piece in cut(sentence):
                    try:
                        texts.append(normalize_text(piece))
                    except InvalidInput:
                        continue  # a stray control character
    if not texts:
        raise RuntimeError(f"no seed texts under {SEEDS_DIR}")
    return tuple(t for t in texts if len(t) >= 8)


def tweet_event(tweet_id: int, author_id: int, author_handle: str, text: str) -> TweetPosted:
    """The event ingest would append for this post (entities extracted, mentions unresolved)."""
    entities = extract_entities(text)
    tweet = Tweet(
        tweet_id,
        author_id,
        author_handle,
        text,
        id_ms(tweet_id),
        hashtags=entities.hashtags,
        urls=entities.urls,
    )
    return TweetPosted(tweet_id, time.time_ns() // 1000, tweet)


def encoded_tweet_sizes(count: int = 1000) -> list[int]:
    """Bytes of encoded tweet events over the seed texts, as the log stores them."""
    ids = IdGenerator(1023)
    texts = seed_texts()
    return [
        len(
            encode(
                tweet_event(ids.next_id(), ids.next_id(), f"u{i % 100_000}", texts[i % len(texts)])
            )
        )
        for i in range(count)
    ]
