"""Tweet texts of the project's own corpus (bench/corpus: Kazakh, Georgian and a dozen other
scripts, one text a line), at most 140 characters each."""

from __future__ import annotations

import time
import unicodedata
from functools import cache

from bench.config import CORPUS_DIR
from engine.errors import InvalidInput
from engine.events import TweetPosted, encode
from engine.ids import IdGenerator, id_ms
from engine.records import Tweet
from engine.text import MAX_TEXT_CHARS, extract_entities, normalize_text


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
def corpus_texts() -> tuple[str, ...]:
    """Every text of the corpus (a line each) as a valid tweet text, in file order."""
    texts: list[str] = []
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for piece in cut(line):  # a line longer than a tweet is cut at spaces
                try:
                    texts.append(normalize_text(piece))
                except InvalidInput:
                    continue  # nothing visible, or a stray control character
    if not texts:
        raise RuntimeError(f"no tweet texts under {CORPUS_DIR}")
    return tuple(texts)


def corpus_words() -> list[str]:
    """Every word of the corpus, in file order."""
    return " ".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS_DIR.glob("*.txt"))).split()


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
    texts = corpus_texts()
    return [
        len(
            encode(
                tweet_event(ids.next_id(), ids.next_id(), f"u{i % 100_000}", texts[i % len(texts)])
            )
        )
        for i in range(count)
    ]
