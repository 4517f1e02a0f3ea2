"""Text rules: NFC, 1-140 code points, and entities (#hashtags, @mentions, URLs) in any script.

Invisible and direction-control characters (Unicode's default-ignorable code points: zero-width
space and joiners, direction marks and controls, variation selectors, tag characters, ...)
are kept where text needs them and refused where they hide or reorder text
(engine/invisible.py):

- a text needs at least one visible character: one made only of spaces and invisible
  characters is refused as ``text_empty``;
- tag characters stand only inside an emoji tag sequence (the flags of England, Scotland,
  Wales), and direction embeddings, overrides and isolates (U+202A-202E, U+2066-2069) only
  when closed within their line; otherwise ``invalid_text``;
- a name (display name, list name) also starts and ends with a visible character and holds no
  direction control; inside it, the only invisible characters are joiners between two visible
  characters, variation selectors after one, direction marks and emoji tag sequences.

So ZWJ inside emoji sequences, ZWNJ in Persian and Indic words, and Arabic or Hebrew mixed with
other scripts keep working, while a name of U+202E then ``evil``, or ``Admin`` then U+200B,
or a tweet made only of zero-width or tag characters is refused.

A direct-message command is a text whose first two words, folded (NFKC, case-folded,
invisible characters dropped), are ``d`` and a handle-shaped word (1-15 letters, digits or
``_`` in any script) once a leading ``@`` or a trailing ``:`` is dropped: ``d @dave hi``,
``d dave: hi``, a fullwidth d (U+FF44) then ``dave hi``, and ``d dave`` then U+200B then
`` hi`` all are; ``D & D tonight`` is not.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable

import msgspec

from engine.errors import InvalidInput
from engine.invisible import (
    DIRECTION_CONTROLS,
    TAG_CHARS,
    drop_invisible,
    has_visible,
    name_problem,
    stray_tags,
    unbalanced_direction,
)

MAX_TEXT_CHARS = 140
HANDLE_RE = re.compile(r"[A-Za-z0-9_]{1,15}")
_URL = r"https?://[^\s<>\"]+"
_URL_TRAILING = ".,;:!?)]}'\u00bb\u201d"
# Category Cc is exactly U+0000-001F and U+007F-009F; Cs is the surrogates. Tab and newline pass.
_FORBIDDEN = "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029"
_FORBIDDEN_RE = re.compile(f"[{_FORBIDDEN}]")
# What any of the rules after NFC looks for: control characters, tag characters, direction
# embeddings, overrides and isolates (engine/invisible.py). A text with none skips them.
_UNUSUAL_RE = re.compile(f"[{_FORBIDDEN}{TAG_CHARS}{DIRECTION_CONTROLS}]")
HASH_SIGNS = "#\uff03"  # a hashtag starts with either
AT_SIGNS = "@\uff20"  # a mention starts with either
# A URL (group 1), or a sign that may start a hashtag or a mention (extract_entities).
_ENTITY_RE = re.compile(f"({_URL})|[{HASH_SIGNS}{AT_SIGNS}]", re.IGNORECASE)
_WORD_RE = re.compile(r"\S+")


def _has_entity_mark(text: str) -> bool:
    """Whether a text holds a # or @ sign (either width) or "://": every match of _ENTITY_RE
    does (a URL its "://"), and substring searches tell it some ten times faster than the
    scan, which most texts then skip."""
    return "#" in text or "@" in text or "://" in text or "\uff03" in text or "\uff20" in text


class Entities(msgspec.Struct, frozen=True):
    """What a text links to, in order of appearance, each listed once (a struct: one is
    built per post, engine/records.py says why)."""

    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


NO_ENTITIES = Entities()


def normalize_text(raw: object) -> str:
    """NFC-normalise a tweet text and check its rules, or raise InvalidInput."""
    if not isinstance(raw, str):
        raise InvalidInput("text must be a string", code="invalid_text")
    text = unicodedata.normalize("NFC", raw)
    unusual = _UNUSUAL_RE.search(text) is not None  # one scan; most texts have none
    if unusual and _FORBIDDEN_RE.search(text):
        raise InvalidInput("text contains control characters", code="invalid_text")
    if not has_visible(text):
        raise InvalidInput("text is empty (nothing in it is visible)", code="text_empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"text is {len(text)} characters; at most {MAX_TEXT_CHARS}", code="text_too_long"
        )
    if not unusual:
        return text
    if stray_tags(text):
        raise InvalidInput("text holds tag characters outside an emoji flag", code="invalid_text")
    if unbalanced_direction(text):
        raise InvalidInput(
            "text holds a direction embedding, override or isolate not closed within its line",
            code="invalid_text",
        )
    return text


def normalize_name_text(raw: object) -> str:
    """A name's text: the rules of tweet text, and no invisible character where it hides."""
    text = normalize_text(raw)
    problem = name_problem(text)
    if problem is not None:
        raise InvalidInput(f"the name {problem}", code="invalid_text")
    return text


def fold_word(word: str) -> str:
    """A word as commands compare it: NFKC, case-folded, invisible characters dropped."""
    return drop_invisible(unicodedata.normalize("NFKC", drop_invisible(word)).casefold())


def is_handle_shaped(word: str) -> bool:
    """1-15 letters, marks, digits or _ in any script (real handles are the ASCII ones)."""
    return 1 <= len(word) <= 15 and all(is_word_char(ch) for ch in word)


def direct_message_command(text: str) -> tuple[str, str] | None:
    """(folded recipient word, message) when the text is a direct-message command, else None.

    Words that fold to nothing (only invisible characters) are skipped. The message is the
    rest of the text after the second word, stripped; it may be empty.
    """
    first_word = _WORD_RE.search(text)
    if first_word is not None:
        word = first_word.group(0)
        if word.isascii():
            if word.lower() != "d":  # ASCII folds to its lower case, never to ""
                return None  # most texts: no Unicode folding at all
        elif d_sources().search(word) is None and has_visible(word):
            return None  # it folds to something without a d (never to ""): not "d"
    return folded_command(text)


def folded_command(text: str) -> tuple[str, str] | None:
    """direct_message_command() by folding every word it reads, without its shortcuts."""
    folded = ((m, fold_word(m.group(0))) for m in _WORD_RE.finditer(text))
    words = ((m, word) for m, word in folded if word)  # each word folded once, lazily
    first = next(words, None)
    if first is None or first[1] != "d":
        return None  # most texts: one word folded
    second = next(words, None)
    if second is None:
        return None
    recipient = second[1].removeprefix("@").removesuffix(":")
    if not is_handle_shaped(recipient):
        return None
    return recipient, text[second[0].end() :].strip()


def prepare() -> None:
    """Build the character tables built on first use (a second or so of scanning every code
    point), so that a process does it before it serves rather than in its first request."""
    word_run_re()
    d_sources()


@functools.cache
def d_sources() -> re.Pattern[str]:
    """The characters a fold can make a "d" of (compatibility forms, case, letters with
    marks): a word with none of them and a visible character never folds to "d". Found by
    scanning every code point once (about half a second), so it follows the running
    Python's Unicode version."""
    found = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if "d" in unicodedata.normalize("NFKD", ch).casefold() or "d" in unicodedata.normalize(
            "NFKD", ch.casefold()
        ):
            found.append(re.escape(ch))
    return re.compile(f"[{''.join(found)}]")


def normalize_tag(tag: str) -> str:
    """The key under which a hashtag is compared: NFKC, case-folded, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", tag).casefold())


def is_valid_handle(handle: object) -> bool:
    """True for 1-15 of A-Z a-z 0-9 _."""
    return isinstance(handle, str) and HANDLE_RE.fullmatch(handle) is not None


def extract_entities(text: str) -> Entities:
    """Hashtags, mentions and URLs in a text; hashtags keep their spelling, deduplicated by key.

    One regular expression finds URLs and the # and @ signs in a single scan of the text (in
    C): a URL's match takes its characters, so a sign inside a URL is never seen, and a sign
    starts an entity unless it follows a word character. Most texts hold none of them.
    """
    if not _has_entity_mark(text):
        return NO_ENTITIES
    return scan_entities(text)


def scan_entities(text: str) -> Entities:
    """extract_entities() without its shortcut for texts that hold no sign and no URL."""
    urls: list[str] = []
    tags: list[str] = []
    mentions: list[str] = []
    for found in _ENTITY_RE.finditer(text):
        if found.lastindex:  # the URL alternative
            urls.append(_clean_url(found.group(0)))
            continue
        i = found.start()
        if i > 0 and is_word_char(text[i - 1]):
            continue
        if text[i] in HASH_SIGNS:
            word = hashtag_at(text, i + 1)
            if word:
                tags.append(word)
        else:
            word = handle_at(text, i + 1)
            if word:
                mentions.append(word)
    if not (urls or tags or mentions):
        return NO_ENTITIES
    return Entities(_unique_by(tags, normalize_tag), _unique_by(mentions, str.lower), _unique(urls))


def is_word_char(ch: str) -> bool:
    """The word-character rule of hashtags, handles and search terms: letters, marks, digits
    and _ in any script; variation selectors (emoji presentation) are not."""
    if "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":
        return False
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


@functools.cache
def word_run_re() -> re.Pattern[str]:
    """Maximal runs of word characters (is_word_char, as one character class scanned in C)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if not is_word_char(chr(cp)):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    members = "".join(
        re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges
    )
    return re.compile(f"[{members}]+")


def word_at(text: str, start: int) -> str:
    """The run of word characters of a text that starts at `start` (not folded), or ""."""
    match = word_run_re().match(text, start)
    return match.group(0) if match else ""


def hashtag_at(text: str, start: int) -> str:
    """The hashtag whose sign ends just before `start`, or "": a word, not made only of digits."""
    word = word_at(text, start)
    return "" if word.isdigit() else word


def handle_at(text: str, start: int) -> str:
    """The handle whose @ ends just before `start`, or "" when none is there or more letters
    run on after it (longer than a handle can be, or running into other letters)."""
    match = HANDLE_RE.match(text, start)
    if match is None or word_at(text, match.end()):
        return ""
    return match.group(0)


def _clean_url(url: str) -> str:
    return url.rstrip(_URL_TRAILING)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _unique_by(items: list[str], key: Callable[[str], str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return tuple(seen.values())


def handle_key(handle: str) -> str:
    """The key under which handles are unique: lower-cased ASCII."""
    return handle.lower()
