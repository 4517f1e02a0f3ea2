import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.config import Settings
from engine.http import ops_routes
from engine.metrics import Metrics
from schemas import OPENAPI_FILE
from timeline.app import Engine

pytestmark = pytest.mark.unit


class _NoBackend:
    """Routes are built without touching a backend."""


def test_every_served_route_is_documented_and_every_documented_route_served() -> None:
    engine = Engine(Settings())
    engine.backend = _NoBackend()  # type: ignore[assignment]
    app = engine.web_app()
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    doc = json.loads(OPENAPI_FILE.read_text())
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented


async def ready() -> tuple[bool, dict[str, bool]]:
    return True, {}


def ops_app() -> web.Application:
    """The ops routes alone, the process always ready."""
    app = web.Application()
    app.add_routes(ops_routes(Metrics(), ready))
    return app


async def test_the_served_document_names_the_process_it_came_from() -> None:
    async with TestClient(TestServer(ops_app())) as client:
        resp = await client.get("/openapi.json")
        served = await resp.json()
        port = client.server.port
    assert served["servers"][0]["url"] == f"http://127.0.0.1:{port}"
    committed = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in committed.items() if k != "servers"
    }


def test_every_operation_states_its_errors_and_its_security() -> None:
    doc = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert doc["security"] == [{"bearer": []}]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in ("/healthz", "/readyz", "/metrics"):
                assert op["security"] == [], path
                continue
            statuses = set(op["responses"])
            assert {"401", "403", "503"} <= statuses, (method, path)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= statuses, (method, path)


async def test_docs_is_the_reference_as_a_page_with_nothing_from_outside() -> None:
    async with TestClient(TestServer(ops_app())) as client:
        resp = await client.get("/docs")
        page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    doc = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    for path, ops in doc["paths"].items():
        for method in ops:
            assert f">{method.upper()} {path}</h3>" in page
    assert "http://" not in page.split("<body>")[0] and "<script" not in page
    assert 'href="#newtweet"' in page and 'id="newtweet"' in page


def test_every_operation_has_an_example_and_every_example_fits_its_schema() -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    resource = Resource(contents=doc, specification=DRAFT202012)
    registry = Registry().with_resource("urn:openapi", resource)

    def check(schema: dict[str, object], example: object) -> None:
        """Validate against a schema whose references point into the document."""
        text = json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/')
        Draft202012Validator(json.loads(text), registry=registry).validate(example)

    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", ()):
            check({k: v for k, v in schema.items() if k != "examples"}, example)
        assert schema.get("examples"), f"schema {name} has no example"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            media = [
                m
                for r in (op.get("requestBody", {}), *op["responses"].values())
                for m in r.get("content", {}).values()
            ]
            assert any("example" in m for m in media), f"{method.upper()} {path}"
            for m in media:
                if "example" in m and isinstance(m["example"], dict | list):
                    check(m["schema"], m["example"])
