"""direct_message_command's shortcuts (an ASCII first word other than d; a first word with
no character a fold can make a d of) answer exactly as folding every word does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.text import d_sources, direct_message_command, folded_command

pytestmark = pytest.mark.unit

D_FORMS = d_sources().pattern[1:-1].replace("\\", "")
# Latin, Cyrillic (\u0430-\u0437) and Georgian (\u10d0-\u10d5) letters, signs, combining marks,
# joiners and other invisible characters
OTHERS = (
    "xyz"
    + "".join(map(chr, range(0x430, 0x438)))
    + "".join(map(chr, range(0x10D0, 0x10D6)))
    + "_@:\u0307\u0301\u200b\u200d\u2060\ufe0f\u00ad"
)
SPACES = " \t\n\u3000"


def test_every_form_of_d_still_starts_a_command() -> None:
    assert {"d", "D", "\uff44", "\u217e", "\U0001d41d"} <= set(D_FORMS)
    for d in D_FORMS:
        for text in (f"{d} dave hi", f"\u200b{d} @dave: hi", f"{d}\u200b dave hi"):
            assert direct_message_command(text) == folded_command(text), text


PIECES = [*D_FORMS[:20], *OTHERS, *SPACES, "dave", "hi"]


@settings(max_examples=3000)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_the_shortcuts_agree_with_folding_every_word(text: str) -> None:
    assert direct_message_command(text) == folded_command(text)


@given(st.text(max_size=30))
def test_any_text_agrees(text: str) -> None:
    assert direct_message_command(text) == folded_command(text)
