"""Invisible and direction-control characters: which text needs them, and where.

Invisible means Unicode's Default_Ignorable_Code_Point: characters that show nothing of their
own (zero-width space and joiners, direction marks and controls, variation selectors, tag
characters, the soft hyphen, Hangul fillers, ...). Text in many scripts needs some of them,
so they are not refused outright; the rules (see engine/text.py) are:

- every text needs at least one visible character (one that is neither whitespace nor
  invisible): a text made only of invisible characters is empty;
- tag characters only inside an emoji tag sequence (the black flag, tags, a cancel tag: the
  flags of England, Scotland, Wales); anywhere else they carry hidden text;
- direction embeddings, overrides and isolates (U+202A-202E, U+2066-2069) only closed within
  their line (PDF, PDI), so they cannot reorder the text shown after them;
- names (display names, list names) start and end with a visible character and hold no
  direction control at all; inside a name, the only invisible characters are joiners between
  two visible characters (ZWJ in emoji sequences, ZWNJ in Persian and Indic scripts),
  selectors right after a character (emoji presentation, Mongolian variants), direction marks
  (LRM, RLM, ALM) and emoji tag sequences.
"""

from __future__ import annotations

import re

ZWNJ, ZWJ = "\u200c", "\u200d"
# Unicode 15 DerivedCoreProperties.txt, Default_Ignorable_Code_Point
_IGNORABLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_INVISIBLE_RE = re.compile(f"[{_IGNORABLE}]")
_VISIBLE_RE = re.compile(f"[^\\s{_IGNORABLE}]")  # \s is str.isspace()
_EMBED_OPEN, _ISOLATE_OPEN = "\u202a\u202b\u202d\u202e", "\u2066\u2067\u2068"
_PDF, _PDI = "\u202c", "\u2069"
DIRECTION_CONTROLS = _EMBED_OPEN + _ISOLATE_OPEN + _PDF + _PDI
_DIRECTION_RE = re.compile(f"[{DIRECTION_CONTROLS}]")
_DIRECTION_LINE_RE = re.compile(f"[{DIRECTION_CONTROLS}\n]")
TAG_CHARS = "\U000e0000-\U000e007f"  # a character-class range
_TAG_RE = re.compile(f"[{TAG_CHARS}]")
_TAG_SEQUENCE_RE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_SELECTORS = "\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef"
_DIRECTION_MARKS = "\u200e\u200f\u061c"
# Inside a name: what may stand where (checked after the tag sequences are taken out).
_NAME_ALLOWED_RE = re.compile(f"[{_SELECTORS}{_DIRECTION_MARKS}{ZWNJ}{ZWJ}]")
_SELECTOR_RE = re.compile(f"[{_SELECTORS}]")


def is_invisible(ch: str) -> bool:
    """True for a default-ignorable character: it shows nothing of its own."""
    return _INVISIBLE_RE.match(ch) is not None


def is_visible(ch: str) -> bool:
    """Neither whitespace nor invisible."""
    return not ch.isspace() and not is_invisible(ch)


def drop_invisible(text: str) -> str:
    """The text without its invisible characters."""
    return _INVISIBLE_RE.sub("", text)


def has_visible(text: str) -> bool:
    """True when some character of the text shows."""
    return _VISIBLE_RE.search(text) is not None


def stray_tags(text: str) -> bool:
    """True when a tag character stands outside an emoji tag sequence."""
    if _TAG_RE.search(text) is None:
        return False
    return _TAG_RE.search(_TAG_SEQUENCE_RE.sub("", text)) is not None


def unbalanced_direction(text: str) -> bool:
    """True when a direction embedding, override or isolate is not closed within its line,
    or a closer (PDF, PDI) closes nothing."""
    if _DIRECTION_RE.search(text) is None:
        return False
    stack: list[str] = []
    for match in _DIRECTION_LINE_RE.finditer(text):
        ch = match.group(0)
        if ch == "\n":
            if stack:
                return True
        elif ch in _EMBED_OPEN or ch in _ISOLATE_OPEN:
            stack.append(ch)
        elif not stack or (ch == _PDF) != (stack.pop() in _EMBED_OPEN):
            return True
    return bool(stack)


def name_problem(text: str) -> str | None:
    """Why a name's invisible characters are refused, or None when they are not."""
    if _DIRECTION_RE.search(text) is not None:
        return "holds a direction control"
    plain = _TAG_SEQUENCE_RE.sub("\U0001f3f4", text)  # a flag shows as one character
    if not is_visible(plain[0]) or not is_visible(plain[-1]):
        return "starts or ends with an invisible character or a space"
    for i, ch in enumerate(plain):
        if not is_invisible(ch):
            continue
        if _NAME_ALLOWED_RE.match(ch) is None:
            return f"holds the invisible character U+{ord(ch):04X}"
        if ch in (ZWNJ, ZWJ) and not _joins(plain, i):
            return "holds a joiner that joins nothing"
        if _SELECTOR_RE.match(ch) and plain[i - 1].isspace():
            return "holds a variation selector after a space"
    return None


def _joins(text: str, i: int) -> bool:
    """A joiner at i stands between two visible characters (a selector may precede it)."""
    before = text[i - 1]
    if _SELECTOR_RE.match(before) and i >= 2:
        before = text[i - 2]
    return is_visible(before) and is_visible(text[i + 1])
