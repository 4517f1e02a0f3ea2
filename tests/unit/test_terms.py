"""Search terms and entity scanning share one word-character rule (engine/text.py).

The reference below is the rule search terms were first written with: Python's `\\w` and
every combining mark but the variation selectors. Terms, words and hashtags must give the
same answers under it on the corpus (bench/corpus), on hostile strings and on generated text.
"""

import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.config import CORPUS_DIR
from engine.records import Mention, Tweet
from engine.terms import mention_term, tag_term, tweet_terms, words
from engine.text import extract_entities, handle_at, hashtag_at, is_word_char, word_at

pytestmark = pytest.mark.unit
_SELECTORS = {*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
REFERENCE = re.compile(
    "[\\w"
    + "".join(
        re.escape(chr(cp))
        for cp in range(sys.maxunicode + 1)
        if cp not in _SELECTORS and unicodedata.category(chr(cp))[0] == "M"
    )
    + "]+"
)
HOSTILE = [
    "#tag#tag @user@user",
    "\uff03全角 \uff20\uff55\uff53\uff45\uff52",
    "#123 #1a #١٢٣ #_",
    "e\u0301cole ÉCOLE école",
    "straße STRASSE ǅ ﬁne ᾈ",
    "❤️#love👩🏽‍💻#code",
    "\u200b\u200d\u200c\u2060\u00ad",
    "a\ufe0fb \U000e0101x",
    "\u202eevil\u202c admin\u200b",
    "@" + "a" * 15 + " @" + "a" * 16 + " @abcé",
    "http://x.y/#frag @user's #tag.",
    "Сәлем СӘЛЕМ ტვიტერი ᲢᲕᲘᲢᲔᲠᲘ",
    "d @dave hi",
    "",
    " ",
    "#",
    "@",
    "_",
]


def corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        lines += path.read_text(encoding="utf-8").splitlines()
    assert sum(map(len, lines)) > 1000
    return lines


def old_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text).casefold())
    return list(dict.fromkeys(REFERENCE.findall(folded)))


def old_word_at(text: str, start: int) -> str:
    match = REFERENCE.match(text, start)
    return match.group(0) if match else ""


def test_the_word_rule_is_the_reference_on_every_code_point() -> None:
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        assert is_word_char(ch) == (REFERENCE.fullmatch(ch) is not None), hex(cp)


def test_corpus_and_hostile_texts_give_the_same_words_as_the_reference() -> None:
    for text in [*corpus_lines(), *HOSTILE]:
        assert words(text) == old_words(text), text
        for i in range(len(text)):
            assert word_at(text, i) == old_word_at(text, i), (text, i)


@given(st.text(max_size=40))
def test_generated_text_gives_the_same_words_as_the_reference(text: str) -> None:
    assert words(text) == old_words(text)
    assert word_at(text, 0) == old_word_at(text, 0)


def test_hashtags_and_handles_are_scanned_as_entities_are() -> None:
    assert hashtag_at("#123", 1) == "" and hashtag_at("#1a.", 1) == "1a"
    assert handle_at("@" + "a" * 16, 1) == "" and handle_at("@abc's", 1) == "abc"
    assert handle_at("@abcé", 1) == "" and handle_at("@", 1) == ""
    for text in HOSTILE:
        found = extract_entities(text)
        for tag in found.hashtags:
            assert hashtag_at(tag, 0) == tag
        for handle in found.mentions:
            assert handle_at(handle + " ", 0) == handle


def test_known_terms() -> None:
    assert words("Сәлем сәлем ᲢᲕᲘᲢᲔᲠᲘ ტვიტერი, STRASSE!") == ["сәлем", "ტვიტერი", "strasse"]
    assert words("❤️#love👩🏽‍💻 e\u0301cole") == ["love", "école"]
    assert tag_term("ÉCOLE") == "#école" and mention_term(42) == "@42"


def test_a_tweets_terms_are_its_words_tags_and_mentions() -> None:
    bob = Mention(7, "bob")
    tweet = Tweet(1, 2, "alice", "Hi #Tag @bob hi", 0, hashtags=("Tag",), mentions=(bob,))
    assert tweet_terms(tweet) == ("hi", "tag", "bob", "#tag", "@7")
