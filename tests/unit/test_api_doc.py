"""docs/API.md is the served OpenAPI document rendered: regenerate it with
`python -m schemas.apidoc > docs/API.md` after changing schemas/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import OPENAPI_FILE
from schemas.apidoc import render

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
OPENAPI = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def test_the_api_reference_is_the_served_document_rendered() -> None:
    assert DOC.read_text(encoding="utf-8") == render(OPENAPI), (
        "docs/API.md is stale: run `python -m schemas.apidoc > docs/API.md`"
    )


def test_every_operation_has_a_summary_and_every_route_its_section() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path, ops in OPENAPI["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            assert f"### {method.upper()} {path}\n" in text
