"""Text rules: NFC, 1-140 code points, and entities (#hashtags, @mentions, URLs) in any script."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.errors import InvalidInput

MAX_TEXT_CHARS = 140
HANDLE_RE = re.compile(r"[A-Za-z0-9_]{1,15}")
_URL_RE = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\u00bb\u201d"
# Category Cc is exactly U+0000-001F and U+007F-009F; Cs is the surrogates. Tab and newline pass.
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_HASH_SIGNS = "#\uff03"
_SIGN_RE = re.compile("[#\uff03@\uff20]")


@dataclass(frozen=True, slots=True)
class Entities:
    """What a text links to, in order of appearance, each listed once."""

    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


def normalize_text(raw: object) -> str:
    """NFC-normalise a tweet text and check its rules, or raise InvalidInput."""
    if not isinstance(raw, str):
        raise InvalidInput("text must be a string", code="invalid_text")
    text = unicodedata.normalize("NFC", raw)
    if _FORBIDDEN_RE.search(text):
        raise InvalidInput("text contains control characters", code="invalid_text")
    if not text.strip():
        raise InvalidInput("text is empty", code="text_empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"text is {len(text)} characters; at most {MAX_TEXT_CHARS}", code="text_too_long"
        )
    return text


def normalize_tag(tag: str) -> str:
    """The key under which a hashtag is compared: NFKC, case-folded, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", tag).casefold())


def is_valid_handle(handle: object) -> bool:
    """True for 1-15 of A-Z a-z 0-9 _."""
    return isinstance(handle, str) and HANDLE_RE.fullmatch(handle) is not None


def extract_entities(text: str) -> Entities:
    """Hashtags, mentions and URLs in a text; hashtags keep their spelling, deduplicated by key.

    Only the # and @ signs are visited (found by a regular expression, so the scan of the text
    runs in C): a sign starts an entity unless it is inside a URL or follows a word character.
    """
    found = list(_URL_RE.finditer(text))
    urls = _unique(_clean_url(m.group(0)) for m in found)
    spans = [m.span() for m in found]
    tags: list[str] = []
    mentions: list[str] = []
    for sign in _SIGN_RE.finditer(text):
        i = sign.start()
        if (i > 0 and _is_word_char(text[i - 1])) or _inside(i, spans):
            continue
        if text[i] in _HASH_SIGNS:
            word = _take_word(text, i + 1)
            if word and not all(ch.isdigit() for ch in word):
                tags.append(word)
        else:
            word = _take_handle(text, i + 1)
            if word:
                mentions.append(word)
    return Entities(_unique_by(tags, normalize_tag), _unique_by(mentions, str.lower), urls)


def _is_word_char(ch: str) -> bool:
    """Letters, marks, digits and _; variation selectors (emoji presentation) are not."""
    if "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":
        return False
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def _take_word(text: str, start: int) -> str:
    end = start
    while end < len(text) and _is_word_char(text[end]):
        end += 1
    return text[start:end]


def _take_handle(text: str, start: int) -> str:
    match = HANDLE_RE.match(text, start)
    if match is None:
        return ""
    end = match.end()
    if end < len(text) and _is_word_char(text[end]):
        return ""  # longer than a handle can be, or runs into other letters
    return match.group(0)


def _clean_url(url: str) -> str:
    return url.rstrip(_URL_TRAILING)


def _inside(i: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= i < end for start, end in spans)


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
