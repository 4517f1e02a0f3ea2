"""Invisible and direction-control characters, and the direct-message command's folding."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.invisible import is_invisible, stray_tags, unbalanced_direction
from engine.text import (
    _FORBIDDEN_RE,
    _UNUSUAL_RE,
    direct_message_command,
    normalize_name_text,
    normalize_text,
)
from ingest.validate import direct_message_parts, normalize_name

pytestmark = pytest.mark.unit

ZWSP, ZWNJ, ZWJ, WJ, BOM = "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"
LRM, RLM, ALM = "\u200e", "\u200f", "\u061c"
LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
# Zero-width, direction, tag, filler and other default-ignorable characters
INVISIBLE = st.sampled_from(
    [ZWSP, ZWNJ, ZWJ, WJ, BOM, LRM, RLM, ALM, "\u00ad", "\u034f", "\u3164", "\ufe0f"]
    + [chr(c) for c in range(0xE0020, 0xE0080)]
)
TAGS = st.sampled_from([chr(c) for c in range(0xE0000, 0xE0080)])
DIRECTION = st.sampled_from([LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI])
VISIBLE = st.characters(categories=["L", "N", "P", "S"]).filter(lambda c: not is_invisible(c))
NEEDS_INVISIBLE = [
    "👩🏽\u200d💻 at work",  # ZWJ emoji sequence
    "🏳️\u200d🌈",  # flag with a variation selector and a ZWJ
    "❤️ Алматы",  # variation selector 16
    f"Go {SCOTLAND}!",  # emoji tag sequence
    "می\u200cخواهم",  # Persian: ZWNJ  # noqa: RUF001
    "क्\u200dष",  # Devanagari: ZWJ after the virama
    "ന്\u200c",  # Malayalam: ZWNJ after the virama, then a space-free end
    "שלום עולם and مرحبا بالعالم",  # bidirectional text needs no control
    f"{RLM}שלום!{RLM}",  # direction marks
    f"a {RLI}مرحبا{PDI} b",  # a closed isolate
    f"x {RLE}abc{PDF} y",  # a closed embedding
    "ภาษาไทย\u200bคำ",  # Thai: a zero-width space as a line-break hint
]


@pytest.mark.parametrize("text", NEEDS_INVISIBLE)
def test_text_that_needs_invisible_characters_keeps_working(text: str) -> None:
    assert normalize_text(text) == unicodedata.normalize("NFC", text)


@pytest.mark.parametrize(
    "name",
    [
        "👩🏽\u200d💻 Dev",
        "می\u200cخواهم",  # noqa: RUF001
        "क्\u200dष",
        "❤️ Алматы",
        f"Kilt {SCOTLAND}",
        "שלום עולם",
        "Ахмед أحمد",
        f"Dana {RLM}דנה",
    ],
)
def test_names_that_need_invisible_characters_keep_working(name: str) -> None:
    assert normalize_name(name, "display_name", 50) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    "name",
    [
        f"{RLO}evil",
        f"Admin{ZWSP}",
        f"{ZWSP}Admin",
        f"Ad{ZWSP}min",
        f"{LRM}Admin",
        f"Admin{ZWJ}",
        f"Ad{WJ}min",
        f"Ad{BOM}min",
        "Admin\u00ad",
        f"x{RLO}evil{PDF}",  # closed, but a name is shown inside other text
        f"a{LRI}b{PDI}",
        "\u3164",  # a Hangul filler: a blank-looking name
        f"Admin {ZWNJ}x",
    ],
)
def test_names_with_hiding_or_reordering_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_name(name, "display_name", 50)
    assert err.value.code == "invalid_display_name"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (ZWSP * 3, "text_empty"),
        (f"{ZWJ}{ZWNJ} {WJ}", "text_empty"),
        ("".join(chr(c) for c in range(0xE0041, 0xE0050)), "text_empty"),
        (f"{RLO}{PDF}", "text_empty"),
        ("\u3164\u3164", "text_empty"),
        ("hello \U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065", "invalid_text"),
        (f"price {RLO}0.01{LRM} x", "invalid_text"),
        (f"{PDF}stray", "invalid_text"),
        (f"{RLI}open\n{PDI}", "invalid_text"),
        (f"{RLE}crossed{PDI}", "invalid_text"),
    ],
)
def test_invisible_only_stray_tag_and_open_direction_texts_are_refused(
    text: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_text(text)
    assert err.value.code == code


@given(st.lists(st.one_of(INVISIBLE, TAGS, DIRECTION, st.sampled_from(" \n\t")), min_size=1))
def test_a_text_with_nothing_visible_is_empty(parts: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_text("".join(parts)[:140])
    assert err.value.code == "text_empty"
    with pytest.raises(InvalidInput) as err:
        normalize_name("".join(parts)[:50], "display_name", 50)
    assert err.value.code == "invalid_display_name"


@given(st.text(VISIBLE, min_size=1, max_size=20), INVISIBLE)
def test_a_name_never_starts_or_ends_with_an_invisible_character(word: str, invisible: str) -> None:
    for name in (invisible + word, word + invisible):
        with pytest.raises(InvalidInput):
            normalize_name_text(name)


@given(st.text(min_size=0, max_size=30), DIRECTION, st.text(min_size=0, max_size=30))
def test_a_name_never_holds_a_direction_control(before: str, control: str, after: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_name_text(before + control + after)


@given(
    st.text(VISIBLE, min_size=1, max_size=30),
    st.sampled_from([(LRE, PDF), (RLE, PDF), (LRO, PDF), (RLO, PDF), (LRI, PDI), (RLI, PDI)]),
    st.text(VISIBLE, min_size=1, max_size=30),
)
def test_a_direction_control_in_a_tweet_is_kept_when_closed_and_refused_when_open(
    before: str, pair: tuple[str, str], inside: str
) -> None:
    opener, closer = pair
    closed = f"{before}{opener}{inside}{closer}"
    assert normalize_text(closed) == unicodedata.normalize("NFC", closed)
    with pytest.raises(InvalidInput) as err:
        normalize_text(f"{before}{opener}{inside}")
    assert err.value.code == "invalid_text"


@given(st.text(VISIBLE, min_size=1, max_size=30), st.lists(TAGS, min_size=1, max_size=10))
def test_tag_characters_outside_an_emoji_flag_are_refused(word: str, tags: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_text(word + "".join(tags))
    assert err.value.code == "invalid_text"


# The direct-message command: the first two words, folded, are `d` and a handle-shaped word.


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("d @dave secret", ("dave", "secret")),
        ("d dave: secret", ("dave", "secret")),
        ("\uff44 dave secret", ("dave", "secret")),  # fullwidth d
        (f"d dave{ZWSP} secret", ("dave", "secret")),
        ("d dave secret plans", ("dave", "secret plans")),
        ("D Dave Secret", ("dave", "Secret")),
        ("\uff24 \uff20\uff24\uff41\uff56\uff45\uff1a hi", ("dave", "hi")),  # all fullwidth
        (f"{ZWSP} d{ZWJ} @dave: hi", ("dave", "hi")),  # invisible words are no words
        ("d\u3000dave\u3000hi", ("dave", "hi")),  # ideographic spaces
        ("d @dave:", ("dave", "")),
        ("d Вася привет", ("вася", "привет")),  # handle-shaped in any script
        ("d ნინო გამარჯობა", ("ნინო", "გამარჯობა")),
        ("d \uff4e\uff49\uff4e\uff4f hi", ("nino", "hi")),  # fullwidth Latin folds to ASCII
        ("d 2 go", ("2", "go")),
    ],
)
def test_direct_message_commands_are_recognised_after_folding(
    text: str, command: tuple[str, str]
) -> None:
    assert direct_message_command(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "D & D tonight",
        "d",
        "dd dave hi",
        "hello d dave hi",
        "d @@dave hi",
        "d dave, hi",
        "d abcdefghijklmnop hi",  # 16 characters: no handle is that long
        "d :) nice",
        "Д dave hi",  # Cyrillic De is not d
        "#d dave hi",
    ],
)
def test_other_texts_are_not_commands(text: str) -> None:
    assert direct_message_command(text) is None
    assert direct_message_parts(text) is None


@pytest.mark.parametrize(
    "text", ["d Вася привет", "d ნინო გამარჯობა", "d dave", f"d @dave: {ZWSP}", "d dave:"]
)
def test_commands_that_cannot_be_sent_are_refused_not_posted(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        direct_message_parts(normalize_text(text))
    assert err.value.code == "invalid_direct_message"


@given(
    st.sampled_from(["d", "D", "\uff44", "\uff24", f"d{ZWSP}", f"{WJ}D"]),
    st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True),
    st.sampled_from(["", "@", "\uff20"]),
    st.sampled_from(["", ":", "\uff1a", ZWSP, BOM]),
    st.text(VISIBLE, min_size=1, max_size=40),
)
def test_every_spelling_of_a_command_is_one(
    d: str, handle: str, at: str, colon: str, message: str
) -> None:
    text = f"{d} {at}{handle}{colon} {message}"
    assert direct_message_parts(text) == (handle.lower(), message)


@given(
    st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True),
    st.lists(st.tuples(st.integers(0, 20), INVISIBLE.filter(lambda c: c < "\U000e0000"))),
)
def test_invisible_characters_anywhere_in_the_first_two_words_change_nothing(
    handle: str, inserts: list[tuple[int, str]]
) -> None:
    head = list(f"d @{handle}:")
    for at, ch in inserts:
        head.insert(at % (len(head) + 1), ch)
    assert direct_message_command("".join(head) + " hi") == (handle.lower(), "hi")


@given(
    st.text(max_size=40)
    | st.lists(st.one_of(INVISIBLE, TAGS, DIRECTION, st.text(max_size=3))).map("".join)
)
def test_a_text_the_one_scan_passes_breaks_none_of_the_rules_it_skips(text: str) -> None:
    """normalize_text skips the control-character, tag and direction rules for a text in
    which one scan (text._UNUSUAL_RE) finds none of their characters: each would pass it."""
    if _UNUSUAL_RE.search(text) is None:
        assert _FORBIDDEN_RE.search(text) is None
        assert not stray_tags(text)
        assert not unbalanced_direction(text)
