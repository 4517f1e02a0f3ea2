"""Invisible and direction-control characters over the API: refused where they hide or
reorder text, kept where text needs them; a refusal writes nothing."""

from __future__ import annotations

from typing import Any

from tests.integration.test_dm_commands import log_end
from tests.support import Api, unique_handle

SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


async def test_names_and_texts_that_hide_or_reorder_are_refused(api: Api, engine: Any) -> None:
    author = await api.user()
    before = await log_end(engine)
    for name in ["\u202eevil", "Admin\u200b", "\u200bAdmin", "Ad\u2060min", "\u3164"]:
        body = {"handle": unique_handle("inv"), "display_name": name}
        err = await api.call("POST", "/v1/users", 400, json=body)
        assert err["error"]["code"] == "invalid_display_name", repr(name)
    for name in ["\u202elist", "list\u200b"]:
        body = {"owner_id": author["id"], "name": name}
        err = await api.call("POST", "/v1/lists", 400, json=body)
        assert err["error"]["code"] == "invalid_name", repr(name)
    for text, code in [
        ("\u200b\u200c\u200d", "text_empty"),
        ("".join(chr(c) for c in range(0xE0041, 0xE005B)), "text_empty"),
        ("\u2060 \ufeff", "text_empty"),
        ("nice \U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065", "invalid_text"),
        ("cost \u202e0.01", "invalid_text"),
    ]:
        body = {"author_id": author["id"], "text": text}
        err = await api.call("POST", "/v1/tweets", 400, json=body)
        assert err["error"]["code"] == code, repr(text)
    assert await log_end(engine) == before


async def test_text_that_needs_them_keeps_working(api: Api) -> None:
    names = ["👩🏽\u200d💻 Dev", "می\u200cخواهم", f"Kilt {SCOTLAND}", "שלום עולם"]  # noqa: RUF001
    for name in names:
        body = {"handle": unique_handle("ok"), "display_name": name}
        made = await api.call("POST", "/v1/users", 201, json=body)
        assert made["display_name"] == name
    texts = [
        "👩🏽\u200d💻 at work #кодинг",
        "می\u200cخواهم بروم",  # noqa: RUF001
        "क्\u200dष and ന്\u200c",
        "a \u2067مرحبا\u2069 b and שלום",  # noqa: RUF001
        f"Go {SCOTLAND}!",
    ]
    author = await api.user()
    posted = [await api.tweet(author, text) for text in texts]
    assert [t["text"] for t in posted] == texts
    await api.wait_ids(f"/v1/users/{author['id']}/tweets", [t["id"] for t in posted])
