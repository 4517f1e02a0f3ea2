"""Service tokens and posting limits on the real stack."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from engine.auth import SCOPE_ATTRIBUTE
from tests.support import Api, unique_handle
from timeline.app import Engine

READ = "reader-token-0123456789"
WRITE = "writer-token-0123456789"
ADMIN = "admin-token-01234567890"
DM = "inbox-token-01234567890"


@pytest_asyncio.fixture(scope="module")
async def guarded(engine: Engine) -> AsyncIterator[TestClient]:
    settings = dataclasses.replace(
        engine.settings,
        tokens=f"ro={READ}:read,rw={WRITE}:read+write,ops={ADMIN}:admin,inbox={DM}:dm",
        rate_limits="3/600",
    )
    front = Engine(settings, parts=("ingest", "readers"))
    front.backend, front.ids = engine.backend, engine.ids
    client = TestClient(TestServer(front.web_app()))
    await client.start_server()
    yield client
    await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_every_endpoint_but_health_needs_a_token(guarded: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await guarded.get(path)).status == 200
    for method, path in [
        ("GET", "/v1/users/1"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/users"),
        ("DELETE", "/v1/tweets/1"),
    ]:
        resp = await guarded.request(method, path)
        assert resp.status == 401, path
        assert (await resp.json())["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ({"Authorization": f"Basic {WRITE}"}, bearer("wrong-token-0123456789")):
        assert (await guarded.get("/v1/users/1", headers=header)).status == 401


async def test_scopes(guarded: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"handle": unique_handle("tok")}
    denied = await guarded.post("/v1/users", json=body, headers=bearer(READ))
    assert denied.status == 403
    assert (await denied.json())["error"]["code"] == "insufficient_scope"
    made = await guarded.post("/v1/users", json=body, headers=bearer(WRITE))
    assert made.status == 201
    user = await made.json()
    for token in (READ, WRITE, ADMIN):
        assert (await guarded.get(f"/v1/users/{user['id']}", headers=bearer(token))).status == 200
    again = {"handle": unique_handle("tok")}
    assert (await guarded.post("/v1/users", json=again, headers=bearer(ADMIN))).status == 201
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert all(secret not in logged for secret in (READ, WRITE, ADMIN))


async def test_posting_limit_answers_429_with_retry_after(guarded: TestClient, api: Api) -> None:
    user = await api.user()
    post = {"author_id": user["id"], "text": "within the limit"}
    for left in (2, 1, 0):
        ok = await guarded.post("/v1/tweets", json=post, headers=bearer(WRITE))
        assert ok.status == 202
        assert ok.headers["RateLimit-Remaining"] == ok.headers["X-RateLimit-Remaining"] == str(left)
        assert ok.headers["RateLimit-Limit"] == "3" and int(ok.headers["RateLimit-Reset"]) >= 1
        assert ok.headers["RateLimit-Policy"].startswith("3;w=")
    over = await guarded.post("/v1/tweets", json=post, headers=bearer(WRITE))
    assert over.status == 429
    assert (await over.json())["error"]["code"] == "rate_limited"
    assert int(over.headers["Retry-After"]) >= 1
    batch = await guarded.post(
        "/v1/tweets/batch", json={"tweets": [post, post]}, headers=bearer(WRITE)
    )
    results = (await batch.json())["results"]
    assert [r["error"]["code"] for r in results] == ["rate_limited", "rate_limited"]


async def test_reading_direct_messages_needs_the_dm_scope(guarded: TestClient, api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    path = f"/v1/users/{bob['id']}/direct_messages"
    assert (await guarded.get(path)).status == 401
    for token in (READ, WRITE):
        denied = await guarded.get(path, headers=bearer(token))
        assert denied.status == 403, token
        assert (await denied.json())["error"]["code"] == "insufficient_scope"
        assert "dm" in (await denied.json())["error"]["message"]
        with_ = await guarded.get(path, params={"with": alice["id"]}, headers=bearer(token))
        assert with_.status == 403
    for token in (DM, ADMIN):
        allowed = await guarded.get(path, headers=bearer(token))
        assert allowed.status == 200, token
        assert (await allowed.json())["messages"] == []
    # dm reads messages only: other reads still need read, and sending one needs write
    assert (await guarded.get(f"/v1/users/{bob['id']}", headers=bearer(DM))).status == 403
    send = {"sender_id": alice["id"], "recipient_id": bob["id"], "text": "hi"}
    for token in (DM, READ):
        denied = await guarded.post("/v1/direct_messages", json=send, headers=bearer(token))
        assert denied.status == 403
        assert (await denied.json())["error"]["code"] == "insufficient_scope"
    command = {"author_id": alice["id"], "text": f"d {bob['handle']} hi"}
    denied = await guarded.post("/v1/tweets", json=command, headers=bearer(DM))
    assert denied.status == 403
    allowed = await guarded.post("/v1/direct_messages", json=send, headers=bearer(WRITE))
    assert allowed.status == 403  # past the scope check: bob does not follow alice
    assert (await allowed.json())["error"]["code"] == "not_followed"


def test_every_direct_message_read_route_needs_the_dm_scope(engine: Engine) -> None:
    app = Engine(engine.settings, parts=("ingest", "readers"))
    app.backend = engine.backend
    routes = [
        r
        for r in app.web_app().router.routes()
        if r.method == "GET" and r.resource is not None and "direct_message" in r.resource.canonical
    ]
    assert routes
    for route in routes:
        assert getattr(route.handler, SCOPE_ATTRIBUTE, None) == "dm", route.resource.canonical
