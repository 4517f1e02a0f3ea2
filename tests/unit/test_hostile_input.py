"""The shared parsers of request input: 4xx with a stable code for whatever a client sends."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import msgpack
import pytest
import pytest_asyncio
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from engine.auth import auth_middleware, parse_tokens
from engine.http import (
    MAX_BODY_DEPTH,
    _json_body,
    error_middleware,
    page_query,
    read_body,
    respond,
)
from engine.ids import decimal
from engine.metrics import Metrics
from ingest.service import idempotency_key
from tests.support import raw_request
from timeline.logs import JsonFormatter

pytestmark = pytest.mark.unit
JSON_TYPE = {"Content-Type": "application/json"}
TOKEN = "unit-token-0123456789"


async def body(request: web.Request) -> web.Response:
    return web.json_response({"keys": sorted(await read_body(request))})


async def page(request: web.Request) -> web.Response:
    return web.json_response({"count": page_query(request).count})


async def negotiated(request: web.Request) -> web.Response:
    return respond(request, {"ok": True})


async def keyed(request: web.Request) -> web.Response:
    return web.json_response({"key": idempotency_key(request)})


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application(
        middlewares=[error_middleware(Metrics()), auth_middleware(parse_tokens(""))]
    )
    app.add_routes(
        [
            web.post("/body", body),
            web.get("/page", page),
            web.post("/key", keyed),
            web.get("/answer", negotiated),
        ]
    )
    async with TestClient(TestServer(app)) as c:
        yield c


async def answer(resp: ClientResponse) -> tuple[int, str]:
    data = await resp.json()
    return resp.status, data.get("error", {}).get("code", "")


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", 42), ("007", 7), ("", None), ("٣", None), ("²", None), ("4" * 20, None), ("-1", None)],
)
def test_decimal_takes_ascii_digits_only(text: str, value: int | None) -> None:
    assert decimal(text, max_digits=19) == value


def nested(depth: int) -> str:
    return '{"a": ' + "[" * depth + "]" * depth + "}"


async def test_bodies_nested_too_deep_are_refused(client: TestClient) -> None:
    for depth in (MAX_BODY_DEPTH, 1000, 100_000):
        resp = await client.post(
            "/body", data=nested(depth), headers={"Content-Type": "application/json"}
        )
        assert await answer(resp) == (400, "invalid_body"), depth
    packed = b"\x81" + msgpack.packb("a") + b"\x91" * 1000 + msgpack.packb(0)
    resp = await client.post("/body", data=packed, headers={"Content-Type": "application/msgpack"})
    assert await answer(resp) == (400, "invalid_body")
    resp = await client.post("/body", data=nested(MAX_BODY_DEPTH - 2), headers=JSON_TYPE)
    assert resp.status == 200


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"text": "\ud800"}',
        rb'{"\udfff": 1}',
        rb'{"tweets": [{"text": "ok"}, {"text": "a\ud83d"}]}',
    ],
)
async def test_lone_surrogates_escaped_anywhere_in_a_body_are_refused(
    client: TestClient, raw: bytes
) -> None:
    resp = await client.post("/body", data=raw, headers={"Content-Type": "application/json"})
    assert await answer(resp) == (400, "invalid_encoding")


async def test_escaped_and_plain_text_that_is_unicode_is_taken(client: TestClient) -> None:
    for raw in (rb'{"text": "\ud83d\ude00 \u0436"}', '{"text": "ж 😀"}'.encode()):
        resp = await client.post("/body", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status == 200, raw


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 123456789012345678901234567890, "b": -0.0, "c": 0.1}',
        b'{"a": NaN, "b": Infinity, "c": 1e400}',
        b'{"a": 1, "a": 2}',
        rb'{"a": "\u00e9\ud83d\ude00", "b": [[[{}]]]}',
        rb'{"a": "\ud800"}',
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_json_bodies_are_read_as_the_standard_library_reads_them(raw: bytes) -> None:
    """The fast decoder refuses what it would read otherwise (NaN, out-of-range numbers, lone
    surrogate escapes, deep nesting); those are read by the standard library, as before."""
    try:
        expected = repr(json.loads(raw))
    except RecursionError:
        with pytest.raises(RecursionError):
            _json_body(raw)
        return
    data, check_text = _json_body(raw)
    assert repr(data) == expected
    assert check_text == (rb"\ud800" in raw)  # only a body the fast decoder refused is checked


@pytest.mark.parametrize("count", ["9" * 4301, "٣", "²", "1e3", " 5", "0"])
async def test_page_counts_are_ascii_digits_in_range(client: TestClient, count: str) -> None:
    assert await answer(await client.get("/page", params={"count": count})) == (
        400,
        "invalid_count",
    )


async def test_idempotency_keys_are_printable_ascii(client: TestClient) -> None:
    head = b"POST /key HTTP/1.1\nHost: t\nContent-Length: 0\n"
    for bad in (b"k\xe9y", b"caf\xc3\xa9"):  # aiohttp itself refuses control characters
        status, data = await raw_request(client, head + b"Idempotency-Key: " + bad + b"\n")
        assert (status, data["error"]["code"]) == (400, "invalid_header"), bad
    status, data = await raw_request(client, head + b"Idempotency-Key: a-b_c.d~1 2\n")
    assert (status, data) == (200, {"key": "a-b_c.d~1 2"})


async def test_an_authorization_header_that_is_not_utf8_is_refused() -> None:
    app = web.Application(
        middlewares=[error_middleware(Metrics()), auth_middleware(parse_tokens(f"t={TOKEN}:write"))]
    )
    app.add_routes([web.post("/key", keyed)])
    async with TestClient(TestServer(app)) as c:
        head = b"POST /key HTTP/1.1\nHost: t\nContent-Length: 0\n"
        status, data = await raw_request(c, head + b"Authorization: Bearer \xff" + b"\n")
        assert (status, data["error"]["code"]) == (400, "invalid_header")
        status, _ = await raw_request(c, head + f"Authorization: Bearer {TOKEN}\n".encode())
        assert status == 200


async def test_the_error_middleware_counts_into_the_metrics_it_is_given() -> None:
    metrics = Metrics()
    app = web.Application(middlewares=[error_middleware(metrics)])
    app.add_routes([web.get("/page", page)])
    async with TestClient(TestServer(app)) as c:
        assert await answer(await c.get("/page?count=x")) == (400, "invalid_count")
    sample = metrics.registry.get_sample_value
    assert sample("timeline_errors_total", {"code": "invalid_count"}) == 1.0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "a/json", "multipart/form-data; b=x"],
)
async def test_a_body_in_another_media_type_is_415(client: TestClient, content_type: str) -> None:
    resp = await client.post("/body", data=b'{"a": 1}', headers={"Content-Type": content_type})
    assert await answer(resp) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"]
)
async def test_json_types_and_no_type_at_all_are_read_as_json(
    client: TestClient, content_type: str
) -> None:
    resp = await client.post("/body", data=b'{"a": 1}', headers={"Content-Type": content_type})
    assert resp.status == 200
    bare = await client.post("/body", data=b'{"a": 1}', skip_auto_headers=["Content-Type"])
    assert bare.status == 200


@pytest.mark.parametrize(
    ("accept", "msgpack_answer"),
    [
        ("application/msgpack", True),
        ("application/x-msgpack", True),
        ("application/msgpack;q=0", False),
        ("application/json, application/msgpack;q=0.5", False),
        ("application/msgpack;q=0.9, application/json;q=0.5", True),
        ("application/json;q=0.1, */*", False),
        ("*/*", False),
        ("", False),
        ("application/msgpack;q=x", False),
    ],
)
async def test_accept_q_values_choose_the_answer_and_answers_vary_by_accept(
    client: TestClient, accept: str, msgpack_answer: bool
) -> None:
    resp = await client.get("/answer", headers={"Accept": accept})
    assert resp.status == 200
    assert resp.headers["Vary"] == "Accept"
    assert resp.content_type == ("application/msgpack" if msgpack_answer else "application/json")


async def test_a_method_a_route_does_not_take_is_405_with_allow(client: TestClient) -> None:
    resp = await client.delete("/body")
    assert await answer(resp) == (405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"


async def test_the_access_log_names_each_answer_and_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        logging.getLogger("engine.test").warning("inside the request")
        seen.append(JsonFormatter().format(caplog.records[-1]))
        return respond(request, {"ok": True})

    app = web.Application(middlewares=[error_middleware(Metrics(), access=True)])
    app.add_routes([web.get("/things/{id}", handler)])
    caplog.set_level(logging.INFO)
    async with TestClient(TestServer(app)) as client:
        made = await client.get("/things/1")
        given = await client.get("/things/2", headers={"X-Request-Id": "req-42"})
        bad = await client.get("/things/3", headers={"X-Request-Id": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert given.headers["X-Request-Id"] == "req-42"
    assert bad.headers["X-Request-Id"] != "x" * 500  # too long to echo: one is made
    assert json.loads(seen[1])["request_id"] == "req-42"  # in the request's own log lines
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    access = [line for line in lines if line["logger"] == "timeline.access"]
    assert [a["route"] for a in access] == ["/things/{id}"] * 3
    second = access[1]
    assert (second["method"], second["status"], second["request_id"]) == ("GET", 200, "req-42")
    assert second["bytes"] == len(b'{"ok":true}\n') and second["ms"] >= 0


async def test_without_the_access_log_only_a_given_request_id_is_echoed() -> None:
    async def handler(request: web.Request) -> web.Response:
        return respond(request, {"ok": True})

    app = web.Application(middlewares=[error_middleware(Metrics())])
    app.add_routes([web.get("/t", handler)])
    async with TestClient(TestServer(app)) as client:
        assert "X-Request-Id" not in (await client.get("/t")).headers
        given = await client.get("/t", headers={"X-Request-Id": "abc"})
        assert given.headers["X-Request-Id"] == "abc"
