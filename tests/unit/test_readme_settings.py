"""The README's configuration table names every setting, and nothing that is not one."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.config import PREFIX, Settings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def documented() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration") :]
    table = table[: table.index("\n## ")]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `TIMELINE_"):
            names |= set(re.findall(r"`(TIMELINE_[A-Z0-9_]+)`", line.split(" | ")[0]))
    return names


def test_every_setting_is_in_the_readme_table_and_only_settings_are() -> None:
    settings = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert settings - documented() == set(), "settings missing from the README table"
    assert documented() - settings == set(), "README rows that are no setting"
