"""Entities and text rules on the corpus (bench/corpus) and on generated Unicode of every kind."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.config import CORPUS_DIR
from engine.errors import InvalidInput
from engine.invisible import has_visible
from engine.text import extract_entities, normalize_tag, normalize_text

pytestmark = pytest.mark.unit

COMBINING = st.characters(categories=["Mn", "Me"]).filter(
    lambda c: not ("\ufe00" <= c <= "\ufe0f" or "\U000e0100" <= c <= "\U000e01ef")
)  # variation selectors choose emoji presentation; they are not letters' marks
EMOJI = st.sampled_from(["😀", "🇰🇿", "👩🏽‍💻", "❤️", "🏀"])
RTL = st.characters(min_codepoint=0x0590, max_codepoint=0x06FF, categories=["Lo"])
CONTROL = st.characters(categories=["Cc"]).filter(lambda c: c not in "\n\t")
LETTERS = st.characters(categories=["Lu", "Ll", "Lo"])


def corpus_words(name: str) -> list[str]:
    text = (CORPUS_DIR / f"{name}.txt").read_text(encoding="utf-8")
    words = ["".join(ch for ch in w if ch.isalnum()) for w in text.split()]
    return [w for w in words if len(w) >= 3 and not w.isdigit()]


@pytest.mark.parametrize("name", ["kk", "ka", "mixed"])
def test_every_corpus_word_is_a_hashtag_of_itself(name: str) -> None:
    words = corpus_words(name)
    assert len(words) > 50
    for word in words[:400]:
        text = normalize_text(f"#{word} сөз")
        assert extract_entities(text).hashtags == (unicodedata.normalize("NFC", word),)


def test_corpus_hashtags_compare_across_case() -> None:
    for word in corpus_words("kk")[:200]:
        assert normalize_tag(word.upper()) == normalize_tag(word.lower())


@given(st.lists(st.one_of(LETTERS, COMBINING, EMOJI, RTL, st.just(" ")), min_size=1, max_size=200))
def test_mixed_scripts_are_counted_in_code_points_after_nfc(parts: list[str]) -> None:
    raw = "".join(parts)
    nfc = unicodedata.normalize("NFC", raw)
    try:
        out = normalize_text(raw)
    except InvalidInput as e:
        assert (e.code == "text_too_long") == (len(nfc) > 140)
        assert (e.code == "text_empty") == (not has_visible(nfc))  # spaces, fillers, CGJ
        return
    assert out == nfc and 1 <= len(out) <= 140


@given(st.text(min_size=0, max_size=20), CONTROL, st.text(min_size=0, max_size=20))
def test_control_characters_are_refused(before: str, control: str, after: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_text(before + control + after)
    assert err.value.code in {"invalid_text", "text_too_long"}


@given(st.lists(LETTERS, min_size=1, max_size=20), st.lists(COMBINING, max_size=3), EMOJI)
def test_hashtags_keep_combining_marks_and_stop_at_emoji(
    letters: list[str], marks: list[str], emoji: str
) -> None:
    word = unicodedata.normalize("NFC", "".join(letters[:1] + marks + letters[1:]))
    ents = extract_entities(f"{emoji}#{word}{emoji} @handle_1{emoji}")
    assert ents.hashtags == (word,)
    assert ents.mentions == ("handle_1",)


@given(st.lists(RTL, min_size=1, max_size=15))
def test_right_to_left_hashtags(letters: list[str]) -> None:
    word = unicodedata.normalize("NFC", "".join(letters))
    assert extract_entities(f"שלום #{word} مرحبا").hashtags == (word,)
