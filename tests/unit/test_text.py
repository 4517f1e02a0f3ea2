import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.config import CORPUS_DIR
from engine.errors import InvalidInput
from engine.text import (
    extract_entities,
    is_valid_handle,
    normalize_tag,
    normalize_text,
    scan_entities,
)

pytestmark = pytest.mark.unit
GEORGIAN = "ტვიტერი"  # 7 letters, 3 bytes each in UTF-8


def corpus_text(name: str) -> str:
    return (CORPUS_DIR / f"{name}.txt").read_text(encoding="utf-8")


def test_140_georgian_characters_are_accepted_and_141_refused() -> None:
    text = (GEORGIAN * 20)[:140]
    assert len(text.encode()) == 420
    assert normalize_text(text) == text
    with pytest.raises(InvalidInput) as err:
        normalize_text(text + "ი")
    assert err.value.code == "text_too_long"


def test_length_is_counted_after_nfc() -> None:
    decomposed = "e\u0301" * 140  # 280 code points, 140 after NFC
    assert len(normalize_text(decomposed)) == 140


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "text_empty"),
        ("   \n", "text_empty"),
        ("a\x00b", "invalid_text"),
        ("a\x1bb", "invalid_text"),
        ("bell\x07", "invalid_text"),
        ("x\u2028y", "invalid_text"),
        (42, "invalid_text"),
    ],
)
def test_bad_texts_are_refused_with_a_stable_code(text: object, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_text(text)
    assert err.value.code == code


def test_entities_in_any_script() -> None:
    ents = extract_entities(
        "#Твиттер and #ტვიტერი with #NBAFinals, @alice_1 see https://ex.am/p?q=1. #nbafinals"
    )
    assert ents.hashtags == ("Твиттер", "ტვიტერი", "NBAFinals")
    assert ents.mentions == ("alice_1",)
    assert ents.urls == ("https://ex.am/p?q=1",)


@pytest.mark.parametrize(
    ("text", "tags", "mentions", "urls"),
    [
        ("see http://x.io/#top and @ann", (), ("ann",), ("http://x.io/#top",)),
        (
            "HTTPS://A.b/@me, #x https://A.b/@me.",
            ("x",),
            (),
            ("HTTPS://A.b/@me", "https://A.b/@me"),
        ),
        ("http://a.b<#tag>", ("tag",), (), ("http://a.b",)),
        ("x http://a.b/1 y http://a.b/1", (), (), ("http://a.b/1",)),
        ("plain words only", (), (), ()),
    ],
)
def test_signs_inside_urls_start_no_entity(
    text: str, tags: tuple[str, ...], mentions: tuple[str, ...], urls: tuple[str, ...]
) -> None:
    ents = extract_entities(text)
    assert (ents.hashtags, ents.mentions, ents.urls) == (tags, mentions, urls)


ENTITY_PIECES = st.sampled_from(
    [
        "#",
        "@",
        "\uff03",
        "\uff20",
        "://",
        "http",
        "HTTPS",
        "ann",
        "tag",
        " ",
        ".",
        "/",
        "x",
        "\u10d0",
    ]
)


@given(st.lists(ENTITY_PIECES | st.text(max_size=3), max_size=8).map("".join))
@example("@ann")
@example("#tag")
@example("\uff20ann")
@example("\uff03tag")
@example("see http://x.io")
@settings(deadline=None)  # the first scan builds the word-character table
def test_the_shortcut_for_texts_without_signs_finds_what_the_scan_finds(text: str) -> None:
    """extract_entities skips the scan of a text with no # or @ sign and no "://"; on any
    text it answers what the scan does."""
    assert extract_entities(text) == scan_entities(text)


def test_hashtags_compare_case_insensitively() -> None:
    assert normalize_tag("Твиттер") == normalize_tag("ТВИТТЕР")
    assert normalize_tag("NBAFinals") == normalize_tag("nbafinals")


@pytest.mark.parametrize(
    ("text", "tags", "mentions"),
    [
        ("mail a@b.com", (), ()),
        ("a#b", (), ()),
        ("#123", (), ()),
        ("#१२३abc", ("१२३abc",), ()),
        ("@abcdefghijklmnopq too long", (), ()),
        ("@bob's", (), ("bob",)),
        ("#हिन्दी text", ("हिन्दी",), ()),
        ("(#tag)", ("tag",), ()),
    ],
)
def test_entity_edges(text: str, tags: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    ents = extract_entities(text)
    assert ents.hashtags == tags
    assert ents.mentions == mentions


def test_corpus_words_make_valid_tweets_cut_at_140() -> None:
    for name in ("kk", "ka", "mixed"):
        words = corpus_text(name).split()
        chunk = ""
        for word in words:
            if len(chunk) + len(word) + 1 > 140:
                assert normalize_text(chunk) == unicodedata.normalize("NFC", chunk)
                chunk = ""
            chunk = f"{chunk} {word}".strip()


@pytest.mark.parametrize("handle", ["a", "A_b_9", "x" * 15])
def test_valid_handles(handle: str) -> None:
    assert is_valid_handle(handle)


@pytest.mark.parametrize("handle", ["", "x" * 16, "with space", "Твиттер", "a-b", None, 5])
def test_invalid_handles(handle: object) -> None:
    assert not is_valid_handle(handle)


@given(st.text(min_size=1, max_size=300))
def test_any_unicode_is_accepted_or_refused_cleanly(text: str) -> None:
    try:
        out = normalize_text(text)
    except InvalidInput as e:
        assert e.code in {"text_empty", "text_too_long", "invalid_text"}
        return
    assert 1 <= len(out) <= 140
    assert unicodedata.is_normalized("NFC", out)
    ents = extract_entities(out)
    for tag in ents.hashtags:
        assert f"#{tag}" in out or f"\uff03{tag}" in out
    for handle in ents.mentions:
        assert is_valid_handle(handle)


# Variation selectors are marks that choose a glyph's presentation (emoji), not letters of a
# word: a hashtag ends before one.
VARIATION_SELECTORS = "".join(map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))


@given(
    st.text(
        alphabet=st.characters(categories=["L", "M", "N"], exclude_characters=VARIATION_SELECTORS),
        min_size=1,
        max_size=30,
    )
)
def test_hashtag_of_letters_marks_and_digits_is_whole(word: str) -> None:
    word = unicodedata.normalize("NFC", word)
    if all(ch.isdigit() for ch in word) or not word or unicodedata.category(word[0])[0] == "M":
        return
    assert extract_entities(f"x #{word} y").hashtags == (word,)


def test_a_hashtag_ends_before_a_variation_selector() -> None:
    assert extract_entities("#ტვიტერი\ufe0f ok").hashtags == ("ტვიტერი",)
    assert extract_entities("#Сәлем\U000e0100").hashtags == ("Сәлем",)
    assert extract_entities("#0\U000e0100").hashtags == ()  # digits alone are not a hashtag


def test_every_line_of_the_corpus_is_a_valid_tweet() -> None:
    lines = [line for name in ("kk", "ka", "mixed") for line in corpus_text(name).splitlines()]
    assert len(lines) >= 100
    for line in lines:
        assert normalize_text(line) == unicodedata.normalize("NFC", line)
