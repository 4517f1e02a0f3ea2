"""Every endpoint fuzzed from the OpenAPI document: no 5xx, and a 4xx appends nothing."""

from __future__ import annotations

import json
import re

import msgpack
import schemathesis
from hypothesis import HealthCheck, settings

from schemas import OPENAPI_FILE
from tests.fuzz.conftest import LogEnd


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx: object, value: object) -> bytes:
    try:
        return bytes(msgpack.packb(value))
    except OverflowError:  # integers beyond 64 bits: send bytes the server must refuse
        return json.dumps(value).encode()


schema = schemathesis.openapi.from_path(OPENAPI_FILE)
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# A live stream (Server-Sent Events) never ends on its own; schemathesis reads an event stream
# until the request timeout, so a stream is fuzzed like any route (status, refusals, no
# write) and read for this long.
STREAM_READ_S = 1.0


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_no_write_on_refusal(case, served: tuple[str, LogEnd]) -> None:
    url, log_end = served
    before = log_end.total()
    streaming = case.path.endswith("/stream")
    response = case.call(base_url=url, **({"timeout": STREAM_READ_S} if streaming else {}))
    assert response.status_code < 500, (case.method, case.path, response.text)
    if streaming and response.status_code == 200:
        assert response.headers["content-type"][0].startswith("text/event-stream")
        assert response.stream_cut_short and response.content.startswith(b"retry:")
    if 400 <= response.status_code < 500:
        body = (
            msgpack.unpackb(response.content)
            if response.headers.get("Content-Type", "").startswith("application/msgpack")
            else response.json()
        )
        assert CODE.match(body["error"]["code"]), body
        assert log_end.total() == before, f"{case.method} {case.path} wrote on a 4xx"
