import json

import pytest

from engine.config import Settings
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
